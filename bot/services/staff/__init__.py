"""What community staff read and do at the console: sign-in, the case list and one case, the three
rates, the command line's views and statistics."""
