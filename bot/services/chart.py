"""The digest's chart: the last days' reported and closed cases, with the three rates, as a PNG."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from core.texts import render


@dataclass(frozen=True, slots=True)
class Day:
    """One day's figures."""

    label: str  # "11-28"
    reported: int
    closed: int
    response: float | None
    resolution: float | None
    satisfaction: float | None


@cache
def _cjk_font() -> str | None:
    """A font with Chinese glyphs, when the machine has one."""
    from matplotlib import font_manager

    for font in font_manager.fontManager.ttflist:
        if any(mark in font.name for mark in ("CJK", "Hei", "Song", "WenQuanYi", "Ming")):
            return str(font.name)
    return None


def render_chart(days: Sequence[Day], language: str) -> bytes:
    """The chart as PNG bytes; labels in ``language`` (English where no Chinese font exists)."""
    # matplotlib is loaded on the first chart: 30 MB the process need not carry until then.
    import matplotlib

    matplotlib.use("Agg")  # headless: no display, no GUI toolkit
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    font = _cjk_font()
    labels = language if language != "zh" or font else "en"
    figure = Figure(figsize=(8, 4), dpi=100)
    axes = figure.add_subplot()
    x = list(range(len(days)))
    width = 0.4
    axes.bar(
        [i - width / 2 for i in x],
        [d.reported for d in days],
        width,
        label=render(labels, "chart.reported"),
        color="#4C78A8",
    )
    axes.bar(
        [i + width / 2 for i in x],
        [d.closed for d in days],
        width,
        label=render(labels, "chart.closed"),
        color="#72B7B2",
    )
    axes.set_xticks(x, [d.label for d in days], rotation=45, fontsize=8)
    axes.set_ylabel(render(labels, "chart.cases"))
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))  # cases come whole
    rates = axes.twinx()
    for key, color in (
        ("response", "#F58518"),
        ("resolution", "#54A24B"),
        ("satisfaction", "#E45756"),
    ):
        values = [getattr(d, key) for d in days]
        rates.plot(
            x,
            [v if v is not None else float("nan") for v in values],
            marker="o",
            color=color,
            label=render(labels, f"chart.{key}"),
        )
    rates.set_ylim(0, 1.05)
    rates.set_ylabel(render(labels, "chart.rate"))
    handles = axes.get_legend_handles_labels()
    more = rates.get_legend_handles_labels()
    legend = axes.legend(
        handles[0] + more[0],
        handles[1] + more[1],
        fontsize=8,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.2),  # below the plot: never over the bars
        ncol=5,
        frameon=False,
    )
    if font and labels == "zh":
        for text in (*legend.get_texts(), axes.yaxis.label, rates.yaxis.label):
            text.set_fontfamily(font)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
