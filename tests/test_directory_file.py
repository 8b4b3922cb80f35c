"""Tests for bot.directory_file: the example file, and problems named as file:line: field."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.directory_file import DirectoryFileError, read_directory

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "changyang.yaml"

# Line numbers matter below: each test spoils one line of this file and expects that line back.
BASE = """\
timezone: Asia/Shanghai
defaults:
  ack_within: 30m
people:
  - {id: zhao, name: 赵主管, role: supervisor, phone: "+8613800000003"}
  - {id: wang, name: 王经理, role: manager, telegram_id: 2001, supervisor: zhao}
  - id: liubo
    name: 刘博
    role: staff
communities:
  - id: jzsj-south
    name: {zh: 嘉州水郡南区社区, en: Jiazhou Shuijun South}
    staff: [liubo]
routing:
  - {community: jzsj-south, category: "*", manager: wang}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "directory.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _spoil(old: str, new: str) -> str:
    assert old in BASE, old  # a typo here must not turn into a test of the unspoiled file
    return BASE.replace(old, new, 1)


def _lines(path: Path) -> list[str]:
    with pytest.raises(DirectoryFileError) as caught:
        read_directory(path)
    return caught.value.lines


def test_example_validates_with_the_six_communities() -> None:
    d = read_directory(EXAMPLE)
    names = {c.id: c.name.zh for c in d.communities}
    assert names == {
        "jzsj-south": "嘉州水郡南区社区",
        "bgy-north": "碧桂园北区社区",
        "yuanxiang": "原香小镇社区",
        "jzsj-north": "嘉州水郡北区社区",
        "yunwan": "云湾家园社区",
        "lingfeng": "领峰四季园社区",
    }
    assert all(c.sms_number and c.staff for c in d.communities)
    # every community routes to a manager of its own
    people = {p.id: p for p in d.people}
    assert {r.community for r in d.routing} == set(names)
    assert all(people[r.manager].community == r.community for r in d.routing)


def test_example_has_the_people_and_service_levels_of_the_stories() -> None:
    d = read_directory(EXAMPLE)
    people = {p.id: p for p in d.people}
    staff = {c.id: [people[s].name for s in c.staff] for c in d.communities}
    assert staff["jzsj-south"] == ["刘博"]
    assert staff["bgy-north"] == ["苏兴华"]
    assert staff["yuanxiang"] == ["杨钊"]
    managers = [p for p in d.people if p.role == "manager"]
    assert any(m.telegram_id is None and m.phone for m in managers)  # one reached by SMS only
    assert all(m.supervisor for m in managers)
    categories = {c.id: c for c in d.categories}
    assert "快递" in categories["parcels"].keywords
    assert categories["construction-waste"].as_overrides() == {
        "resolve_within": timedelta(hours=48)
    }
    assert categories["broken-facility"].working_days is True
    assert categories["water-leak"].urgent is True
    assert d.escalation == ["manager", "supervisor", "staff"]


def test_base_file_is_valid(tmp_path: Path) -> None:
    assert [p.id for p in read_directory(_write(tmp_path, BASE)).people] == [
        "zhao",
        "wang",
        "liubo",
    ]


def test_bad_yaml(tmp_path: Path) -> None:
    path = _write(tmp_path, _spoil("    name: 刘博\n", "    name: 刘博: x\n"))
    assert _lines(path) == [f"{path}:8: yaml: mapping values are not allowed here"]


def test_unclosed_bracket_names_where_it_opened(tmp_path: Path) -> None:
    path = _write(tmp_path, _spoil("staff: [liubo]", "staff: [liubo"))
    [line] = _lines(path)
    assert line.startswith(f"{path}:14: yaml: while parsing a flow sequence that starts on line 13")


def test_unknown_supervisor(tmp_path: Path) -> None:
    path = _write(tmp_path, _spoil("supervisor: zhao}", "supervisor: zhou}"))
    assert _lines(path) == [f"{path}:6: people[1].supervisor: no person with id 'zhou'"]


@pytest.mark.parametrize("duration", ["1.5h", "-1m", "5x"])
def test_bad_duration(tmp_path: Path, duration: str) -> None:
    path = _write(tmp_path, _spoil("ack_within: 30m", f"ack_within: {duration}"))
    [line] = _lines(path)
    assert line.startswith(f"{path}:3: defaults.ack_within: bad duration '{duration}':")


def test_duplicate_person_id(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        _spoil("  - id: liubo\n", "  - {id: wang, name: 王二, role: resident}\n  - id: liubo\n"),
    )
    assert _lines(path) == [
        f"{path}:7: people[2].id: duplicate id 'wang', already used by people[1].id"
    ]


def test_routing_to_a_missing_community(tmp_path: Path) -> None:
    path = _write(tmp_path, _spoil("{community: jzsj-south,", "{community: jzsj-north,"))
    assert _lines(path) == [f"{path}:15: routing[0].community: no community with id 'jzsj-north'"]


def test_unknown_key(tmp_path: Path) -> None:
    path = _write(tmp_path, _spoil("    role: staff\n", "    role: staff\n    wechat: liubo88\n"))
    assert _lines(path) == [
        f"{path}:10: people[2].wechat: unknown key 'wechat'; allowed: id, name, role, phone, "
        "telegram_id, wecom_userid, language, supervisor, community, building"
    ]


def test_misspelt_key_gets_a_suggestion(tmp_path: Path) -> None:
    path = _write(tmp_path, _spoil("  ack_within: 30m", "  ack_witin: 30m"))
    assert _lines(path) == [
        f"{path}:3: defaults.ack_witin: unknown key 'ack_witin'; did you mean 'ack_within'?"
    ]


def test_missing_field_points_at_its_mapping(tmp_path: Path) -> None:
    path = _write(tmp_path, _spoil("    name: 刘博\n", ""))
    assert _lines(path) == [f"{path}:7: people[2].name: required, but missing"]


def test_duplicate_yaml_key_is_not_silently_dropped(tmp_path: Path) -> None:
    path = _write(tmp_path, _spoil("    role: staff\n", "    role: staff\n    role: manager\n"))
    assert _lines(path) == [
        f"{path}:10: people[2].role: duplicate key 'role', also on line 9: only this one counts",
        # the last one counts, so staff [liubo] now names a manager
        f"{path}:14: communities[0].staff[0]: 'liubo' has role manager, expected staff",
    ]


def test_several_problems_come_in_file_order(tmp_path: Path) -> None:
    # the repeated key at the end is found before validation runs; the report still reads top down
    text = _spoil("ack_within: 30m", "ack_within: 5x") + "timezone: Europe/Berlin\n"
    path = _write(tmp_path, text)
    lines = _lines(path)
    assert [line.split(": ")[0] for line in lines] == [f"{path}:3", f"{path}:16"]
    assert lines[1].endswith("duplicate key 'timezone', also on line 1: only this one counts")


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    assert _lines(path) == [f"{path}: no such file"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "1: directory: expected a mapping with timezone, defaults, people, communities, ...; "
             "the file is empty"),
        ("- a\n- b\n", "1: directory: expected a mapping with timezone, defaults, people, "
                       "communities, ...; found a list"),
    ],
)  # fmt: skip
def test_not_a_mapping(tmp_path: Path, text: str, expected: str) -> None:
    path = _write(tmp_path, text)
    assert _lines(path) == [f"{path}:{expected}"]


def test_error_text_is_its_lines(tmp_path: Path) -> None:
    error = DirectoryFileError(["a:1: x: y", "a:2: z: w"])
    assert str(error) == "a:1: x: y\na:2: z: w"
    assert error.lines == ["a:1: x: y", "a:2: z: w"]


# ---- reply templates (issue 24): each problem at its line ---------------------------------------

REPLIES = """\
categories:
  - id: water-leak
    name: {zh: 漏水, en: Water leak}
    replies:
      resolve:
        - zh: 已更换水管
          en: The pipe is replaced
"""


def _replies(tmp_path: Path, old: str, new: str) -> Path:
    assert old in REPLIES, old
    return _write(tmp_path, REPLIES.replace(old, new, 1))


def test_replies_are_read_in_both_languages(tmp_path: Path) -> None:
    [category] = read_directory(_write(tmp_path, REPLIES)).categories
    assert [(r.zh, r.en) for r in category.replies.resolve] == [
        ("已更换水管", "The pipe is replaced")
    ]
    assert category.replies.close == []


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("      resolve:", "      resolv:",
         "5: categories[0].replies.resolv: unknown action 'resolv'; did you mean 'resolve'?"),
        ("      resolve:", "      ask:",
         "5: categories[0].replies.ask: unknown action 'ask'; allowed: resolve, close, reject"),
        ("          en: The pipe is replaced\n", "",
         "6: categories[0].replies.resolve[0]: missing language 'en': write each reply in both "
         "zh and en"),
        ("        - zh: 已更换水管\n          en: The pipe is replaced\n", "        - 已更换水管\n",
         "6: categories[0].replies.resolve[0]: write the reply in both languages: {zh: …, en: …}"),
        ("en: The pipe is replaced", "en: ''",
         "7: categories[0].replies.resolve[0].en: empty reply: write the text the resident is "
         "to read"),
        ("en: The pipe is replaced", "en:",
         "7: categories[0].replies.resolve[0].en: empty reply: write the text the resident is "
         "to read"),
        ("zh: 已更换水管", "zh: " + "很" * 301,
         "6: categories[0].replies.resolve[0].zh: reply is 301 characters; at most 300"),
        ("en: The pipe is replaced", "en: 12",
         "7: categories[0].replies.resolve[0].en: expected text, got 12 (put it in quotes)"),
    ],
)  # fmt: skip
def test_a_bad_reply_is_named_at_its_line(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    path = _replies(tmp_path, old, new)
    assert _lines(path) == [f"{path}:{expected}"]


def test_the_same_reply_twice_and_too_many_replies(tmp_path: Path) -> None:
    twice = "        - zh: 已更换水管\n          en: Again\n"
    path = _replies(tmp_path, "          en: The pipe is replaced\n", "          en: x\n" + twice)
    assert _lines(path) == [
        f"{path}:8: categories[0].replies.resolve[1].zh: duplicate reply '已更换水管', already "
        "used by categories[0].replies.resolve[0].zh"
    ]
    many = "".join(f"        - {{zh: 第{i}条, en: No. {i}}}\n" for i in range(11))
    spoilt = REPLIES.replace("      resolve:\n", "      close:\n" + many + "      resolve:\n")
    path = _write(tmp_path, spoilt)
    assert _lines(path) == [
        f"{path}:5: categories[0].replies.close: 11 replies; at most 10 per action"
    ]


def test_the_example_offers_replies_in_both_languages() -> None:
    categories = {c.id: c for c in read_directory(EXAMPLE).categories}
    assert len(categories["water-leak"].replies.resolve) == 2
    assert categories["parcels"].replies.close[0].en.startswith("We spoke to the parcel station")
    assert categories["parcels"].replies.resolve == []  # 已办好 on parcels resolves at the press
