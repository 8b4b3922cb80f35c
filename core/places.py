"""Where a one-message report is: a building its community lists, named in the text, with the
words around it that say where by it ("72号楼后侧", "5号楼和6号楼之间", "building 5")."""

from __future__ import annotations

import re
from collections.abc import Sequence

_MAX_PLACE = 40
# The word after a building's number: 号楼, 号, 栋, 幢, 座, 楼.
_UNIT = r"\s*(?:号楼|号|栋|幢|座|楼)"
# Words saying where by the building, longest first so "后侧" wins over "后".
_BY = (
    "东北角|东南角|西北角|西南角|东侧|西侧|南侧|北侧|前侧|后侧|左侧|右侧|后面|前面|旁边|对面|"
    "附近|周边|门口|门前|楼下|楼上|楼道|楼顶上|楼顶|顶楼|地下室|车库|一层|底商|之间|中间|"
    "东|西|南|北|前|后|旁|下|内|外|里"
)


def location_in(text: str, buildings: Sequence[str]) -> str:
    """The place ``text`` names by one of ``buildings`` (their numbers or names, as the directory
    lists them), else ""."""
    names = sorted((b.strip() for b in buildings if b.strip()), key=len, reverse=True)
    if not names:
        return ""
    one = "|".join(map(re.escape, names))
    # A bare number is a building only with its unit ("72号楼", not "72 bags"), and stands alone:
    # "72" is not read in "172号楼". A listed name ("A座", "3号楼") is one as it is.
    numbers = "|".join(re.escape(n) for n in names if n.isdigit()) or "(?!)"
    words = "|".join(re.escape(n) for n in names if not n.isdigit()) or "(?!)"
    building = rf"(?<![0-9A-Za-z])(?:(?:{numbers}){_UNIT}|(?:{words})(?:{_UNIT})?)"
    chinese = re.compile(rf"{building}(?:\s*[和与及、]\s*{building})?(?:{_BY})?")
    if found := chinese.search(text):
        return found.group(0)[:_MAX_PLACE]
    english = re.compile(
        rf"\b(?:buildings?|bldg\.?|block)\s*#?\s*(?:{one})(?![0-9A-Za-z])"
        rf"(?:\s*(?:and|&|,)\s*(?:{one})(?![0-9A-Za-z]))?",
        re.IGNORECASE,
    )
    if found := english.search(text):
        return found.group(0)[:_MAX_PLACE]
    return ""


# A building by its number where the directory lists none of the community's ("7号楼", "12栋"):
# a bare "3号" could be a date or a room, so the unit must say building.
_ANY_BUILDING = re.compile(r"(?<![0-9A-Za-z])(\d{1,4})\s*(?:号楼|栋|幢|座)")


def building_in(text: str, buildings: Sequence[str]) -> str:
    """The building ``text`` is at — the first listed one it names, as the directory spells it,
    else the number of any building it names ("7号楼" → "7") — or "": what makes two reports
    "the same building" when a new one is offered the open cases like it."""
    names = sorted((b.strip() for b in buildings if b.strip()), key=len, reverse=True)
    said = text.strip()
    if said in names:
        return said  # a building chosen from the list is its name alone
    place = location_in(said, names)
    for name in names:
        if re.search(rf"(?<![0-9A-Za-z]){re.escape(name)}(?![0-9A-Za-z])", place):
            return name
    found = _ANY_BUILDING.search(said)
    return found.group(1) if found else ""
