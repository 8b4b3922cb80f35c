"""Fonts the bot ships: a subset of Noto Sans CJK SC (SIL OFL 1.1, see OFL.txt) for the digest
chart, so Chinese labels draw on a machine with no CJK font; made by scripts/subset_font.py."""

from __future__ import annotations

from pathlib import Path

SANS_SC = Path(__file__).with_name("WolaibanSansSC-Regular.otf")
SANS_SC_FAMILY = "Wolaiban Sans SC"
