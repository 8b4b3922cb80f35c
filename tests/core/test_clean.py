"""The one normaliser of inbound text, the description cap, the terminal form of stored text and
the place a report names: tables of hostile text, then arbitrary Unicode (hypothesis)."""

from __future__ import annotations

import json
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.clean import MAX_DESCRIPTION, cap, clean, describes, printable
from core.places import location_in

BIDI = {chr(c) for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]}
ZERO_WIDTH = {"\u200b", "\u200c", "\u2060", "\ufeff"}


@pytest.mark.parametrize(
    ("text", "cleaned"),
    [
        ("3号楼\x00\x01\x1b[31m门口", "3号楼[31m门口"),  # NUL, SOH and ESC gone; the rest is text
        ("\u202e5号楼门口垃圾桶满了", "5号楼门口垃圾桶满了"),  # right-to-left override
        ("\u2066左\u2069右\u202a中\u202c", "左右中"),  # isolates and embeddings
        ("5\u200b号楼\ufeff门\u2060口\u200c", "5号楼门口"),  # zero-width characters
        ("  \t 楼道灯坏了 \n\n", "楼道灯坏了"),  # whitespace at the ends
        ("第一行\r\n第二行\r第三行\u2028第四行", "第一行\n第二行\n第三行\n第四行"),
        ("列\t对齐\n下一行", "列\t对齐\n下一行"),  # newline and tab stay
        ("cafe\u0301", "café"),  # NFC
        ("\x85\x9b31m C1\x9f", "31m C1"),  # C1 controls (NEL is a line break at the start)
        ("\ud800孤\udfff", "孤"),  # lone surrogates cannot be stored as UTF-8
        ("👨\u200d👩\u200d👧", "👨\u200d👩\u200d👧"),  # a family emoji keeps its joiners
        ("a\u200db", "ab"),  # a joiner between letters is invisible: gone
        ("\x00\x1b\u202e\u200b \t", ""),
    ],
)
def test_hostile_text_is_cleaned(text: str, cleaned: str) -> None:
    assert clean(text) == cleaned


def test_a_long_description_is_cut_and_says_so() -> None:
    assert cap("短") == ("短", False)
    text, cut = cap("垃" * 20_000)
    assert (len(text), cut) == (MAX_DESCRIPTION, True)
    exact, cut = cap("x" * MAX_DESCRIPTION)
    assert (len(exact), cut) == (MAX_DESCRIPTION, False)


@pytest.mark.parametrize(
    ("text", "says"),
    [("🙂🙂🙂", False), ("！？…", False), ("", False), ("灯坏了", True), ("3", True)],
)
def test_a_report_says_something_with_a_letter_or_a_digit(text: str, says: bool) -> None:
    assert describes(text) is says


def _unsafe(ch: str) -> bool:
    category = unicodedata.category(ch)
    return (category == "Cc" and ch not in "\n\t") or category == "Cs" or ch in BIDI | ZERO_WIDTH


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(), max_size=300))
def test_cleaned_text_is_safe_nfc_trimmed_and_stable(text: str) -> None:
    cleaned = clean(text)
    assert not any(_unsafe(ch) for ch in cleaned)
    assert unicodedata.is_normalized("NFC", cleaned)
    assert cleaned == cleaned.strip()
    assert clean(cleaned) == cleaned  # every channel may clean again: nothing changes
    # a joiner stays only inside an emoji
    assert all(ch != "\u200d" or 0 < i < len(cleaned) - 1 for i, ch in enumerate(cleaned))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(categories=["L", "N", "P", "So"]), max_size=200))
def test_ordinary_text_is_kept(text: str) -> None:
    assert clean(text) == unicodedata.normalize("NFC", text).strip()


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(), max_size=300))
def test_printable_text_has_no_control_and_stays_valid_json(text: str) -> None:
    shown = printable(text)
    assert not any(
        unicodedata.category(ch) in ("Cc", "Cs", "Cf", "Zl", "Zp")
        for ch in shown
        if ch not in "\n\t"
    )
    dumped = printable(json.dumps({"description": text}, ensure_ascii=False))
    assert json.loads(dumped) == {"description": text}


def test_printable_escapes_what_a_terminal_would_obey() -> None:
    assert printable("3号楼\x1b[31m门口\x00") == "3号楼\\u001b[31m门口\\u0000"
    assert printable("\u202e反") == "\\u202e反"
    assert printable("plain ascii\nline") == "plain ascii\nline"
    # a tag character past the BMP: a surrogate pair, which JSON reads back as the character
    assert printable("\U000e0020") == "\\udb40\\udc20"
    assert json.loads(f'"{printable(chr(0xE0020))}"') == "\U000e0020"


@pytest.mark.parametrize(
    ("text", "buildings", "place"),
    [
        ("72号楼后侧建筑垃圾存放处清理不及时，还有人乱扔垃圾。", ["72"], "72号楼后侧"),
        ("5号楼和6号楼之间的长椅坏了，老人没地方坐", ["5", "6"], "5号楼和6号楼之间"),
        ("5号楼门口垃圾桶满了", ["5", "6"], "5号楼门口"),
        ("172号楼后面堆满了快递", ["72"], ""),  # 72 is not read in 172
        ("3 bags of rubbish by gate 2", ["3", "2"], ""),  # a bare number is no building
        ("the bench between buildings 5 and 6 is broken", ["5", "6"], "buildings 5 and 6"),
        ("A座楼下很吵", ["A座"], "A座楼下"),
        ("楼道灯坏了", [], ""),
    ],
)
def test_the_place_a_report_names(text: str, buildings: list[str], place: str) -> None:
    assert location_in(text, buildings) == place
