"""The SMS grammar, segment counting and fitting: tables of real messages, then arbitrary text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.cases import Rating
from core.clean import clean
from core.sms import (
    Acknowledge,
    Done,
    Help,
    OptIn,
    OptOut,
    Rate,
    Report,
    Status,
    fit,
    language_of_text,
    parse,
    segments,
)

S, B, D = Rating.SATISFIED, Rating.BASICALLY_SATISFIED, Rating.DISSATISFIED


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("72号楼后侧建筑垃圾没人清理", Report("72号楼后侧建筑垃圾没人清理")),
        ("  3 bags of rubbish by gate 2 ", Report("3 bags of rubbish by gate 2")),
        ("1号楼电梯坏了", Report("1号楼电梯坏了")),
        ("满意度调查是什么", Report("满意度调查是什么")),
        ("查询", Status()),
        ("查询 #12", Status(12)),
        ("查询＃１２", Status(12)),
        ("STATUS 7", Status(7)),
        ("status", Status()),
        ("1", Rate(S)),
        ("２", Rate(B)),
        ("3。", Rate(D)),
        ("满意", Rate(S)),
        ("基本满意！", Rate(B)),
        ("不满意", Rate(D)),
        ("不满意，垃圾还在", Rate(D, None, "垃圾还在")),
        ("#12 1", Rate(S, 12)),
        ("#12 3 还有一半没清", Rate(D, 12, "还有一半没清")),
        ("STOP", OptOut()),
        ("stop!", OptOut()),
        ("Unsubscribe", OptOut()),
        ("TD", OptOut()),
        ("退订", OptOut()),
        ("START", OptIn()),
        ("HELP", Help()),
        ("帮助", Help()),
        ("A12", Acknowledge(12)),
        ("ａ　１２", Acknowledge(12)),
        ("A#12", Acknowledge(12)),
        ("d 7", Done(7)),
        ("D７", Done(7)),
        ("", Report("")),
    ],
)
def test_messages_people_send(text: str, command: object) -> None:
    assert parse(text) == command


def test_the_language_follows_the_text() -> None:
    assert language_of_text("垃圾没人清") == "zh"
    assert language_of_text("rubbish behind 72") == "en"
    assert language_of_text("72号楼 rubbish") == "zh"


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("中" * 70, 1),
        ("中" * 71, 2),
        ("中" * 134, 2),
        ("中" * 135, 3),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("€" * 80, 1),  # two septets each in GSM-7
        ("€" * 81, 2),
        ("😀" * 35, 1),  # outside the BMP: two units each
        ("😀" * 36, 2),
        ("a" * 159 + "中", 3),  # one Chinese character makes the whole message UCS-2
    ],
)
def test_segments_on_the_edges(text: str, count: int) -> None:
    assert segments(text) == count


def test_fit_shortens_the_body_never_the_number_or_the_codes() -> None:
    body = "#123456 " + "建筑垃圾堆了很久没有人清理，" * 20
    codes = "回复 A123456 接单，D123456 办好"
    fitted = fit(body, codes, keep=len("#123456"))
    assert segments(fitted) <= 2
    assert fitted.startswith("#123456 ")
    assert fitted.endswith("\n" + codes)
    assert "…" in fitted
    short = fit("#1 短", codes)
    assert short == f"#1 短\n{codes}"


_TEXT = st.text(
    alphabet=st.one_of(
        st.characters(),  # anything, emoji and control characters included
        st.sampled_from("０１２３４５６７８９＃　ＡＤａｄ满意不基本查询退订帮助#12 3"),
    ),
    max_size=1600,
)


@settings(max_examples=400, deadline=None)
@given(_TEXT)
def test_any_text_is_a_command_or_a_report(text: str) -> None:
    command = parse(text)
    assert isinstance(command, Report | Status | Rate | OptOut | OptIn | Help | Acknowledge | Done)
    if isinstance(command, Report):
        assert command.text == clean(text)[:1600]
        assert "\x00" not in command.text
        assert "\u202e" not in command.text


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789", min_size=1, max_size=60), st.sampled_from("123"))
def test_a_numbered_rating_is_a_rating_however_long_the_number(digits: str, said: str) -> None:
    command = parse(f"#{digits} {said}")
    assert isinstance(command, Rate)
    assert command.rating is {"1": S, "2": B, "3": D}[said]
    assert command.number == (int(digits) if len(digits.lstrip("0")) <= 30 else 10**30)
    # controls and invisible characters around it change nothing
    assert parse(f"\u202e#{digits}\u200b {said}\x00") == command
    assert isinstance(parse(f"a{digits}"), Acknowledge)


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("#99999999999999999999 3", Rate(D, 99999999999999999999)),
        ("查询 #99999999999999999999", Status(99999999999999999999)),
        ("A99999999999999999999", Acknowledge(99999999999999999999)),
        ("d#" + "9" * 5000, Done(10**30)),
        ("3号楼\x00\x01\x1b[31m门口", Report("3号楼[31m门口")),
        ("\u202e#12 1", Rate(S, 12)),
        ("\x00\x1b", Report("")),
    ],
)
def test_hostile_sms(text: str, command: object) -> None:
    assert parse(text) == command


@settings(max_examples=200, deadline=None)
@given(_TEXT, st.integers(min_value=1, max_value=10**12 - 1))
def test_fitting_always_fits_and_keeps_the_number(text: str, number: int) -> None:
    head = f"#{number}"
    fitted = fit(f"{head} {text}", "回复 1 满意，2 基本满意，3 不满意", keep=len(head))
    assert fitted.startswith(head)
    assert segments(fitted) <= 2
