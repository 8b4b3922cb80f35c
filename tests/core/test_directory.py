"""Tests for core.directory: field validation, cross-references, and how problems are named."""

from __future__ import annotations

from datetime import time, timedelta
from typing import Any

import pytest

from core.directory import (
    CategoryEntry,
    Defaults,
    Directory,
    DirectoryProblem,
    LocalizedName,
)
from core.directory_checks import validate_directory


def _base() -> dict[str, Any]:
    """A small, valid directory as parsed YAML; each test spoils one thing."""
    return {
        "people": [
            {"id": "zhao", "name": "赵主管", "role": "supervisor", "phone": "+8613800000003"},
            {"id": "wang", "name": "王经理", "role": "manager", "telegram_id": 2001,
             "supervisor": "zhao"},
            {"id": "liubo", "name": "刘博", "role": "staff", "telegram_id": 1001},
            {"id": "r1", "name": "张阿姨", "role": "resident", "community": "jzsj-south",
             "building": "172"},
        ],
        "communities": [
            {"id": "jzsj-south", "name": {"zh": "嘉州水郡南区社区", "en": "Jiazhou Shuijun South"},
             "sms_number": "+8610690000001", "staff": ["liubo"], "buildings": ["172"]},
        ],
        "categories": [
            {"id": "water-leak", "name": {"zh": "漏水", "en": "Water leak"}, "urgent": True,
             "ack_within": "10m", "keywords": ["漏水", "leak"]},
        ],
        "routing": [{"community": "jzsj-south", "category": "*", "manager": "wang"}],
    }  # fmt: skip


def _problems(data: object) -> list[tuple[str, str]]:
    result = validate_directory(data)
    assert isinstance(result, list), "expected problems, got a valid directory"
    return [(p.field, p.message) for p in result]


def _valid(data: object) -> Directory:
    result = validate_directory(data)
    assert isinstance(result, Directory), result
    return result


def test_base_is_valid_with_defaults_filled() -> None:
    d = _valid(_base())
    assert d.timezone == "Asia/Shanghai"
    assert d.escalation == ["manager", "supervisor", "staff"]
    assert d.defaults == Defaults()
    assert d.communities[0].name.text("en") == "Jiazhou Shuijun South"
    assert d.categories[0].ack_within == timedelta(minutes=10)


def test_plain_text_name_stands_for_both_languages() -> None:
    data = _base()
    data["communities"][0]["name"] = "原香小镇社区"
    name = _valid(data).communities[0].name
    assert name == LocalizedName(zh="原香小镇社区", en="原香小镇社区")


def test_as_overrides_has_only_the_keys_written() -> None:
    data = _base()
    data["defaults"] = {"ack_within": "30m", "quiet_hours": "22:00-07:00", "digest_at": "08:30"}
    d = _valid(data)
    assert d.defaults.as_overrides() == {
        "ack_within": timedelta(minutes=30),
        "quiet_hours": (time(22), time(7)),
        "digest_at": time(8, 30),
    }
    # a category's own id, name and keywords are not service levels
    assert d.categories[0].as_overrides() == {"urgent": True, "ack_within": timedelta(minutes=10)}


def test_quiet_hours_can_be_switched_off_explicitly() -> None:
    assert CategoryEntry.model_validate(
        {"id": "x", "name": "X", "quiet_hours": None}
    ).as_overrides() == {"quiet_hours": None}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1.5h", "bad duration '1.5h'"),
        ("-1m", "bad duration '-1m'"),
        ("5x", "bad duration '5x'"),
        ("0m", "bad duration '0m'"),
        (30, "a number needs a unit"),
        (None, "empty value"),
    ],
)
def test_bad_durations_are_one_problem_each(value: object, expected: str) -> None:
    data = _base()
    data["defaults"] = {"resolve_within": value}
    [(field, message)] = _problems(data)
    assert field == "defaults.resolve_within"
    assert expected in message


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("digest_at", 510, 'write HH:MM in quotes (e.g. "08:30")'),
        ("digest_at", "25:00", "bad time '25:00'"),
        ("quiet_hours", "22:00", "bad quiet hours '22:00'"),
        ("escalate_after", 0, "greater than or equal to 1"),
        ("escalate_after", "2", "expected a whole number"),
        ("urgent", "yes", "expected true or false"),
    ],
)
def test_bad_service_levels(key: str, value: object, expected: str) -> None:
    data = _base()
    data["categories"][0][key] = value
    [(field, message)] = _problems(data)
    assert field == f"categories[0].{key}"
    assert expected in message


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("phone", 8613800000001, 'must be quoted text with its +, e.g. "+8613800000001"'),
        ("phone", "13800000001", "expected E.164"),
        ("telegram_id", 0, "greater than 0"),
        ("role", "boss", "expected 'resident', 'manager', 'supervisor' or 'staff', got 'boss'"),
        ("id", "wang jr", "bad id 'wang jr'"),
        ("language", "fr", "expected 'zh' or 'en'"),
        ("name", 7, "expected text, got 7 (put it in quotes)"),
    ],
)
def test_bad_person_fields(key: str, value: object, expected: str) -> None:
    data = _base()
    data["people"][3][key] = value
    [(field, message)] = _problems(data)
    assert field == f"people[3].{key}"
    assert expected in message


def test_phone_spaces_are_dropped_and_building_numbers_become_text() -> None:
    data = _base()
    data["people"][3].update(phone="+86 139 0000 0001", building=172)
    person = _valid(data).people[3]
    assert (person.phone, person.building) == ("+8613900000001", "172")


def test_unknown_key_suggests_the_close_one() -> None:
    data = _base()
    data["people"][1]["supervsor"] = data["people"][1].pop("supervisor")
    assert _problems(data) == [
        ("people[1].supervsor", "unknown key 'supervsor'; did you mean 'supervisor'?")
    ]


def test_missing_required_field_and_not_a_mapping() -> None:
    data = _base()
    del data["routing"][0]["manager"]
    assert _problems(data) == [("routing[0].manager", "required, but missing")]
    assert _problems(["people"]) == [
        ("directory", "expected a mapping (key: value), got ['people']")
    ]


def test_bad_timezone() -> None:
    data = _base()
    data["timezone"] = "Asia/Beijing"
    assert _problems(data) == [
        ("timezone", "unknown time zone 'Asia/Beijing' (e.g. Asia/Shanghai)")
    ]


@pytest.mark.parametrize(
    ("chain", "expected"),
    [
        (["supervisor", "staff"], "must start with manager"),
        (["manager", "staff", "staff"], "'staff' appears more than once"),
        ([], "must start with manager"),
    ],
)
def test_escalation_chain(chain: list[str], expected: str) -> None:
    data = _base()
    data["escalation"] = chain
    [(field, message)] = _problems(data)
    assert field == "escalation"
    assert expected in message


def test_empty_sections_read_as_empty() -> None:
    d = _valid({"defaults": None, "people": None, "routing": None})
    assert (d.people, d.routing, d.defaults) == ([], [], Defaults())


@pytest.mark.parametrize(
    ("spoil", "expected"),
    [
        (lambda d: d["people"][1].update(supervisor="zhou"),
         ("people[1].supervisor", "no person with id 'zhou'")),
        (lambda d: d["people"][1].update(supervisor="liubo"),
         ("people[1].supervisor", "'liubo' has role staff, expected supervisor")),
        (lambda d: d["people"][0].update(supervisor="zhao"),
         ("people[0].supervisor", "cannot be their own supervisor")),
        (lambda d: d["people"][3].update(community="yunwan"),
         ("people[3].community", "no community with id 'yunwan'")),
        (lambda d: d["communities"][0]["staff"].append("wang"),
         ("communities[0].staff[1]", "'wang' has role manager, expected staff")),
        (lambda d: d["communities"][0]["staff"].append("nobody"),
         ("communities[0].staff[1]", "no person with id 'nobody'")),
        (lambda d: d["routing"][0].update(community="jzsj-north"),
         ("routing[0].community", "no community with id 'jzsj-north'")),
        (lambda d: d["routing"][0].update(category="parcels"),
         ("routing[0].category", "no category with id 'parcels'")),
        (lambda d: d["routing"][0].update(manager="r1"),
         ("routing[0].manager", "'r1' has role resident, expected manager or supervisor")),
        (lambda d: d["routing"][0].update(manager="ghost"),
         ("routing[0].manager", "no person with id 'ghost'")),
        (lambda d: d["people"].append({"id": "wang", "name": "王二", "role": "resident"}),
         ("people[4].id", "duplicate id 'wang', already used by people[1].id")),
        (lambda d: d["categories"].append({"id": "water-leak", "name": "漏水"}),
         ("categories[1].id", "duplicate id 'water-leak', already used by categories[0].id")),
        (lambda d: d["people"][3].update(telegram_id=1001),
         ("people[3].telegram_id",
          "duplicate telegram_id 1001, already used by people[2].telegram_id")),
        (lambda d: d["people"][3].update(phone="+8613800000003"),
         ("people[3].phone", "duplicate phone '+8613800000003', already used by people[0].phone")),
        (lambda d: d["communities"].append(
            {"id": "bgy-north", "name": "碧桂园北区社区", "sms_number": "+8610690000001"}),
         ("communities[1].sms_number",
          "duplicate sms_number '+8610690000001', already used by communities[0].sms_number")),
    ],
)  # fmt: skip
def test_cross_references(spoil: Any, expected: tuple[str, str]) -> None:
    data = _base()
    spoil(data)
    assert _problems(data) == [expected]


def test_builtin_other_category_may_be_routed_to_without_being_declared() -> None:
    data = _base()
    data["routing"].insert(0, {"community": "*", "category": "other", "manager": "zhao"})
    assert _valid(data).routing[0].category == "other"


def test_all_reference_problems_are_reported_together() -> None:
    data = _base()
    data["people"][1]["supervisor"] = "zhou"
    data["routing"][0]["community"] = "nowhere"
    assert [field for field, _ in _problems(data)] == [
        "people[1].supervisor",
        "routing[0].community",
    ]


@pytest.mark.parametrize(
    ("path", "field"),
    [
        (("people", 3, "supervisor"), "people[3].supervisor"),
        (("communities", 0, "staff", 1), "communities[0].staff[1]"),
        (("timezone",), "timezone"),
        ((), "directory"),
    ],
)
def test_problem_field_reads_like_the_file(path: tuple[str | int, ...], field: str) -> None:
    assert DirectoryProblem(path, "x").field == field


def test_json_dump_gives_the_file_form_back() -> None:
    written = {"resolve_within": "48h", "ack_within": "90s", "quiet_hours": "22:00-07:00",
               "digest_at": "08:30", "working_days": True}  # fmt: skip
    category = CategoryEntry.model_validate({"id": "x", "name": "X", **written})
    dumped = category.model_dump(mode="json", exclude_unset=True, exclude={"id", "name"})
    assert dumped == {**written, "resolve_within": "2d"}
    again = CategoryEntry.model_validate({"id": "x", "name": "X", **dumped})
    assert again.as_overrides() == category.as_overrides()
