"""Make ``bot/fonts/WolaibanSansSC-Regular.otf``: Noto Sans CJK SC Regular cut down to what the
digest chart can show, so a machine with no CJK font still draws Chinese labels.

    python scripts/subset_font.py NotoSansCJK-Regular.ttc

The source is Debian's ``fonts-noto-cjk`` (``apt-get download fonts-noto-cjk``; ``dpkg-deb -x``
it; the collection is ``usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc``), SIL OFL 1.1.
Kept: printable ASCII and Latin-1, every GB2312 character (its 6,763 hanzi cover the names of
places and people in simplified Chinese almost always, plus its punctuation and full-width
forms), and every character of the Chinese text catalog. Dropped: hinting (the chart is drawn at
one size, antialiased) and the vertical-writing tables. Renamed (OFL: a modified font carries its
own name), so it never passes for, or is shadowed by, an installed Noto font.
"""

from __future__ import annotations

import sys
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTCollection, TTFont

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bot" / "fonts" / "WolaibanSansSC-Regular.otf"
FAMILY = "Wolaiban Sans SC"


def gb2312() -> set[str]:
    """Every character GB2312 encodes (rows 0xA1–0xF7, cells 0xA1–0xFE)."""
    found = set()
    for row in range(0xA1, 0xF8):
        for cell in range(0xA1, 0xFF):
            try:
                found.add(bytes((row, cell)).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    return found


def characters() -> set[str]:
    """What the subset keeps."""
    sys.path.insert(0, str(ROOT))
    from core.texts import zh

    keep = {chr(c) for c in range(0x20, 0x7F)} | {chr(c) for c in range(0xA0, 0x100)}
    keep |= gb2312()
    keep |= {c for text in zh.TEXTS.values() for c in text if c.isprintable()}
    return keep


def main(source: str) -> int:
    """Cut the SC face of ``source`` (a .ttc or .otf) down and write it beside the bot."""
    if source.endswith(".ttc"):
        faces = TTCollection(source).fonts
        font = next(f for f in faces if f["name"].getDebugName(1) == "Noto Sans CJK SC")
    else:
        font = TTFont(source)
    options = subset.Options()
    options.hinting = False
    options.desubroutinize = False
    options.drop_tables += ["vhea", "vmtx", "VORG", "BASE"]
    options.layout_features = ["kern"]  # no alternates: they would double the glyphs
    options.name_IDs = [0, 1, 2, 3, 4, 5, 6, 13, 14]
    cutter = subset.Subsetter(options)
    cutter.populate(unicodes=sorted(ord(c) for c in characters()))
    cutter.subset(font)
    names = font["name"]
    for record in list(names.names):
        if record.nameID in (1, 4, 16):
            names.setName(
                FAMILY if record.nameID != 4 else f"{FAMILY} Regular",
                record.nameID,
                record.platformID,
                record.platEncID,
                record.langID,
            )
        elif record.nameID in (3, 6):
            names.setName(
                "WolaibanSansSC-Regular",
                record.nameID,
                record.platformID,
                record.platEncID,
                record.langID,
            )
    font["CFF "].cff.fontNames = ["WolaibanSansSC-Regular"]
    font.save(OUT)
    glyphs = len(font.getGlyphOrder())
    print(f"{OUT.relative_to(ROOT)}: {OUT.stat().st_size:,} bytes, {glyphs} glyphs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
