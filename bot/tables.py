"""Plain-text tables for the terminal, aligned even with Chinese (double-width) characters."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence


def width(text: str) -> int:
    """Columns ``text`` takes in a terminal: wide and full-width characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, columns: int) -> str:
    return text + " " * (columns - width(text))


def _clip(text: str, columns: int) -> str:
    """Shorten ``text`` to at most ``columns`` with an ellipsis, on one line."""
    text = " ".join(text.split())
    if width(text) <= columns:
        return text
    out = ""
    for ch in text:
        if width(out + ch) > columns - 1:
            break
        out += ch
    return out + "…"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], *, max_cell: int = 40) -> str:
    """Render ``rows`` under ``headers``; ``None`` shows as "-"."""
    cells = [[_clip("-" if v is None else str(v), max_cell) for v in row] for row in rows]
    widths = [max([width(h), *(width(row[i]) for row in cells)]) for i, h in enumerate(headers)]
    lines = [
        "  ".join(_pad(h, w) for h, w in zip(headers, widths, strict=True)).rstrip(),
        "  ".join("-" * w for w in widths),
    ]
    lines += [
        "  ".join(_pad(c, w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    return "\n".join(lines)


def percent(rate: float | None) -> str:
    """A rate as a percentage with one decimal, or "-" when nothing counts."""
    return "-" if rate is None else f"{rate * 100:.1f}%"
