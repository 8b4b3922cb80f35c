"""The zh and en catalogs stay in step: same keys, same placeholders, nothing empty."""

from __future__ import annotations

import pytest

from core.texts import CATALOGS, normalize_language, placeholders, render


def test_every_key_exists_in_both_languages() -> None:
    zh, en = CATALOGS["zh"], CATALOGS["en"]
    assert sorted(set(zh) - set(en)) == []
    assert sorted(set(en) - set(zh)) == []


@pytest.mark.parametrize("key", sorted(CATALOGS["zh"]))
def test_same_placeholders_and_no_empty_text(key: str) -> None:
    zh, en = CATALOGS["zh"][key], CATALOGS["en"][key]
    assert zh.strip()
    assert en.strip()
    assert placeholders(zh) == placeholders(en), key


def test_chinese_is_the_fallback_and_tags_are_understood() -> None:
    assert render("fr", "status.closed") == "已办结"
    assert render("en", "status.closed") == "closed"
    assert normalize_language("zh-Hans") == "zh"
    assert normalize_language("en_US") == "en"
    assert normalize_language("fr") is None
    assert normalize_language(None) is None


def test_every_event_kind_has_its_name_in_both_languages() -> None:
    # The console's and the command line's audit trail name each event by ``event.<kind>``.
    from core.cases import EventKind

    missing = [
        f"{language}: event.{kind.value}"
        for language, catalog in CATALOGS.items()
        for kind in EventKind
        if f"event.{kind.value}" not in catalog
    ]
    assert missing == []
