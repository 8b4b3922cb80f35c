"""Which category a report's text is filed under: keywords read from the directory snapshot."""

from __future__ import annotations

from bot.services.cases.report import category_in
from core.directory import BUILTIN_CATEGORY
from db.directory_cache import DirectorySnapshot
from db.models import Category


def _snapshot(*categories: Category) -> DirectorySnapshot:
    return DirectorySnapshot(
        version="v1",
        settings={},
        communities={},
        categories={c.id: c for c in categories},
        routes=(),
        staff={},
        people={},
    )


def _category(id: str, position: int, keywords: list[str], active: bool = True) -> Category:
    return Category(
        id=id, name_zh=id, name_en=id, keywords=keywords, position=position, active=active
    )


def test_a_keyword_matches_whatever_its_case_or_width() -> None:
    snapshot = _snapshot(_category("water", 1, ["Leak", "漏水"]))
    assert category_in(snapshot, "LEAK in the stairwell") == "water"
    assert category_in(snapshot, "ｌｅａｋ under the sink") == "water"  # full-width letters
    assert category_in(snapshot, "楼上漏水了") == "water"


def test_the_first_category_in_the_directorys_order_wins() -> None:
    later = _category("noise", 2, ["楼上"])
    first = _category("water", 1, ["漏水"])
    assert category_in(_snapshot(later, first), "楼上漏水") == "water"


def test_a_blank_keyword_or_an_inactive_category_matches_nothing() -> None:
    snapshot = _snapshot(
        _category("blank", 1, ["  ", ""]), _category("retired", 2, ["路灯"], active=False)
    )
    assert category_in(snapshot, "路灯坏了") == BUILTIN_CATEGORY
    assert category_in(snapshot, "anything at all") == BUILTIN_CATEGORY
