"""Plain-text tables for the terminal, aligned even with Chinese (double-width) characters."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from functools import lru_cache


def width(text: str) -> int:
    """Columns ``text`` takes in a terminal: wide and full-width characters take two."""
    # A table of 10,000 cases measures 70,000 cells: ASCII ones need no look-up, and the others
    # (statuses, community and category names) mostly repeat.
    return len(text) if text.isascii() else _wide_width(text)


@lru_cache(maxsize=4096)
def _wide_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _clip(text: str, columns: int) -> str:
    """Shorten ``text`` to at most ``columns`` with an ellipsis, on one line."""
    if text.isascii() and len(text) <= columns and text.isprintable() and "  " not in text:
        return text.strip()  # most cells: numbers, ids, times
    return _clip_wide(text, columns)


@lru_cache(maxsize=4096)
def _clip_wide(text: str, columns: int) -> str:
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
    sizes = [[width(cell) for cell in row] for row in cells]  # measured once each
    widths = [max([width(h), *(size[i] for size in sizes)]) for i, h in enumerate(headers)]

    def line(texts: Sequence[str], measured: Sequence[int]) -> str:
        padded = zip(texts, measured, widths, strict=True)
        return "  ".join(text + " " * (w - size) for text, size, w in padded).rstrip()

    lines = [line(headers, [width(h) for h in headers]), "  ".join("-" * w for w in widths)]
    lines += [line(row, size) for row, size in zip(cells, sizes, strict=True)]
    return "\n".join(lines)


def percent(rate: float | None) -> str:
    """A rate as a percentage with one decimal, or "-" when nothing counts."""
    return "-" if rate is None else f"{rate * 100:.1f}%"
