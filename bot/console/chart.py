"""A rate over 30 days as the numbers an SVG line chart needs; the template draws it, with its
labels as text (the reader's browser renders the Chinese with its own fonts)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from core.rates import Rates

WIDTH, HEIGHT = 600, 160
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 12, 28


@dataclass(frozen=True, slots=True)
class Chart:
    """One rate's line: its title, the polyline's points, the dots, the axis labels."""

    title: str
    points: str
    dots: tuple[tuple[float, float, str], ...]  # x, y, the value as a percentage
    x_labels: tuple[tuple[float, str], ...]
    y_labels: tuple[tuple[float, str], ...]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right_edge: int = WIDTH - RIGHT
    bottom_edge: int = HEIGHT - BOTTOM


def chart(title: str, days: Sequence[tuple[date, Rates]], attribute: str) -> Chart:
    """The chart of ``attribute`` (``response_rate`` …) over ``days``; days with nothing to count
    have no dot, and the line joins the days that have one."""
    span_x = WIDTH - LEFT - RIGHT
    span_y = HEIGHT - TOP - BOTTOM
    step = span_x / max(len(days) - 1, 1)
    dots: list[tuple[float, float, str]] = []
    for i, (_day, rates) in enumerate(days):
        value = getattr(rates, attribute)
        if value is None:
            continue
        x, y = LEFT + i * step, TOP + (1 - value) * span_y
        dots.append((round(x, 1), round(y, 1), f"{value:.0%}"))
    marks = [0, len(days) // 2, len(days) - 1] if days else []
    x_labels = tuple((round(LEFT + i * step, 1), days[i][0].strftime("%m-%d")) for i in marks)
    y_labels = tuple((round(TOP + (1 - v) * span_y, 1), f"{v:.0%}") for v in (0.0, 0.5, 1.0))
    points = " ".join(f"{x},{y}" for x, y, _ in dots)
    return Chart(title, points, tuple(dots), x_labels, y_labels)
