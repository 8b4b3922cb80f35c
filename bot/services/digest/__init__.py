"""The daily digest for community staff: the figures, the text and the chart."""
