"""``wolaiban cases``, ``outbox``, ``db upgrade`` and ``demo``; bad settings and usage (§2, §8)."""

from __future__ import annotations

import re
import sqlite3
from datetime import datetime, timedelta

import pytest

from bot.services.cases.report import NewReport, report
from bot.services.unit.context import ServiceContext
from core.cases import Channel
from db.migrate import head_revision
from tests.conftest import Clock

from .conftest import SHANGHAI, Cli, Scenario, local

PROMISED_FIELDS = {
    *("number", "status", "community", "category", "location", "description", "channel"),
    *("manager", "escalation_level", "reopen_count", "rating"),
    *("created_at", "acknowledged_at", "resolved_at", "closed_at"),
}
TIME_FIELDS = ("created_at", "acknowledged_at", "resolved_at", "closed_at")
WITH_OFFSET = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00")


def _numbers(scenario: Scenario, *labels: int) -> list[int]:
    return [scenario.numbers[label] for label in labels]


def test_show_json_has_the_contract_fields(cli: Cli, scenario: Scenario) -> None:
    number = scenario.numbers[1]
    case = cli.json("cases", "show", str(number))
    day = scenario.day1.isoformat()
    assert {k: case[k] for k in PROMISED_FIELDS} == {
        "number": number,
        "status": "closed",
        "community": "jzsj-south",
        "category": "parcels",
        "location": "1号楼",
        "description": "第1件：路上堆满了东西",
        "channel": "telegram",
        "manager": "mgr-jzsj-south",
        "escalation_level": 0,
        "reopen_count": 0,
        "rating": "satisfied",
        # Beijing wall-clock times with their offset, as the scenario's clock set them
        "created_at": f"{day}T09:00:00+08:00",
        "acknowledged_at": f"{day}T09:10:00+08:00",
        "resolved_at": f"{day}T09:40:00+08:00",
        "closed_at": f"{day}T09:50:00+08:00",
    }
    keys = ("at", "kind", "actor", "channel", "note")
    mgr, res, tg = "mgr-jzsj-south", "r-jzsj-172", "telegram"
    events: list[tuple[str, str, str | None, str, str]] = [
        (f"{day}T09:00:00+08:00", "reported", res, tg, ""),
        (f"{day}T09:00:00+08:00", "routed", None, "system", ""),
        (f"{day}T09:10:00+08:00", "acknowledged", mgr, tg, ""),
        (f"{day}T09:40:00+08:00", "resolved", mgr, tg, "已清理"),
        (f"{day}T09:50:00+08:00", "rated", res, tg, ""),
    ]
    contract_events = [{k: e[k] for k in keys} for e in case["events"]]
    assert contract_events == [dict(zip(keys, event, strict=True)) for event in events]
    assert case["events"][2]["actor_name"] == "王经理"  # who, readably


def test_show_json_of_a_reopened_case(cli: Cli, scenario: Scenario) -> None:
    case = cli.json("cases", "show", f"#{scenario.numbers[3]}")  # "#3" is accepted too
    assert (case["status"], case["rating"]) == ("assigned", "dissatisfied")
    assert (case["reopen_count"], case["escalation_level"]) == (1, 1)
    assert case["closed_at"] is None
    kinds = [e["kind"] for e in case["events"]]
    assert kinds == ["reported", "routed", "acknowledged", "resolved", "rated", "reopened"]
    assert case["events"][4]["note"] == "还有快递堆着"


def test_list_json_is_the_open_cases_without_events(cli: Cli, scenario: Scenario) -> None:
    cases = cli.json("cases", "list")
    assert [c["number"] for c in cases] == sorted(_numbers(scenario, 3, 6, 10, 11))
    statuses = {c["number"]: c["status"] for c in cases}
    assert [statuses[n] for n in _numbers(scenario, 3, 6, 10)] == ["assigned"] * 3
    for case in cases:
        assert set(case) >= PROMISED_FIELDS
        assert "events" not in case
        assert WITH_OFFSET.fullmatch(case["created_at"]), case["created_at"]
    declined = next(c for c in cases if c["number"] == scenario.numbers[11])
    assert (declined["status"], declined["manager"]) == ("unassigned", None)  # waits for staff


def test_list_json_times_carry_their_offset(cli: Cli, scenario: Scenario) -> None:
    cases = cli.json("cases", "list", "--status", "closed")
    assert [c["number"] for c in cases] == _numbers(scenario, 1, 2, 4, 7, 9)
    stamps = {(c["number"], field): c[field] for c in cases for field in TIME_FIELDS}
    # only case 7, closed by staff, was never resolved
    assert [k for k, v in stamps.items() if v is None] == [(scenario.numbers[7], "resolved_at")]
    assert all(WITH_OFFSET.fullmatch(v) for v in stamps.values() if v), stamps
    # case 6 was reported at 07:30 Beijing, the evening before in UTC: shown in Beijing time
    six = cli.json("cases", "show", str(scenario.numbers[6]))
    assert six["created_at"] == f"{scenario.day1 + timedelta(days=1)}T07:30:00+08:00"


@pytest.mark.parametrize(
    ("filters", "labels"),
    [
        (["--status", "closed", "--community", "jzsj-south"], [1, 2]),
        (["--status", "closed", "--status", "cancelled"], [1, 2, 4, 5, 7, 9]),
        (["--community", "yuanxiang", "--status", "rejected"], [8]),
        (["--community", "bgy-north"], [6]),
        (["--community", "nowhere"], []),
    ],
)
def test_list_filters(cli: Cli, scenario: Scenario, filters: list[str], labels: list[int]) -> None:
    cases = cli.json("cases", "list", *filters)
    assert [c["number"] for c in cases] == _numbers(scenario, *labels)


def test_list_limit_keeps_the_oldest(cli: Cli, scenario: Scenario) -> None:
    closed = _numbers(scenario, 1, 2, 4, 7, 9)
    two = cli.json("cases", "list", "--status", "closed", "--limit", "2")
    assert [c["number"] for c in two] == closed[:2]
    three = cli("cases", "list", "--status", "closed", "--limit", "3")
    assert list(_rows(three.out)) == [f"#{n}" for n in closed[:3]]
    assert len(cli.json("cases", "list", "--status", "closed", "--limit", "99")) == len(closed)


def _rows(text: str) -> dict[str, list[str]]:
    """A printed table's rows by their first cell (the header and its rule left out)."""
    return {line.split()[0]: line.split()[1:] for line in text.splitlines()[2:]}


def test_list_table_for_people(cli: Cli, scenario: Scenario) -> None:
    done = cli("cases", "list", "--status", "closed", "--community", "jzsj-south")
    assert done.code == 0
    assert done.out.splitlines()[0].split()[:4] == ["编号", "状态", "社区", "类别"]
    one, two = (f"#{n}" for n in _numbers(scenario, 1, 2))
    rows = _rows(done.out)
    assert list(rows) == [one, two]
    assert rows[one][:4] == ["已办结", "嘉州水郡南区社区", "快递堆放占道", "mgr-jzsj-south"]
    open_rows = _rows(cli("cases", "list").out)
    assert open_rows[f"#{scenario.numbers[11]}"][0] == "待指派"
    assert open_rows[f"#{scenario.numbers[3]}"][0] == "已派单"
    assert len(open_rows) == 4


def test_list_says_so_when_nothing_matches(cli: Cli, scenario: Scenario) -> None:
    done = cli("cases", "list", "--community", "nowhere")
    assert (done.code, done.out.strip()) == (0, "没有符合条件的诉求。")


def test_show_table_for_people(cli: Cli, scenario: Scenario) -> None:
    number = scenario.numbers[1]
    done = cli("cases", "show", str(number))
    assert done.code == 0
    head = _rows(done.out.split("\n\n")[0])
    assert head["#"] == [str(number)]
    assert head["状态"] == ["已办结"]
    assert head["社区"] == ["嘉州水郡南区社区"]
    assert "第1件：路上堆满了东西" in done.out
    events = done.out.split("记录\n")[1].splitlines()[2:]
    assert [line.split()[1] for line in events] == ["反映", "派单", "接单", "办好", "评价"]
    assert events[3].split()[2:] == ["王经理", "telegram", "已清理"]


@pytest.mark.parametrize("flag", [[], ["--json"]])
def test_show_an_unknown_case(cli: Cli, scenario: Scenario, flag: list[str]) -> None:
    done = cli("cases", "show", "999", *flag)
    assert done.code == 1
    assert done.out == ""
    assert done.err_lines == ["没有找到诉求 #999。"]


@pytest.mark.parametrize(
    "argv",
    [
        ["cases"],
        ["cases", "frobnicate"],
        ["cases", "show", "abc"],
        ["cases", "list", "--status", "closd"],
        ["cases", "list", "--frobnicate"],
        ["cases", "list", "--limit", "0"],
        ["cases", "list", "--limit", "ten"],
        ["frobnicate"],
        ["outbox", "--all"],
        ["invite"],
    ],
)
def test_usage_errors_exit_2(cli: Cli, argv: list[str]) -> None:
    done = cli(*argv)
    assert done.code == 2
    assert done.out == ""
    assert done.err.startswith("usage: wolaiban")
    assert "error:" in done.err_lines[-1]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DATABASE_URL", "mysql://x"),
        ("DATABASE_URL", "sqlite+aiosqlite:////no/such/folder/wolaiban.db"),
        ("DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:1/wolaiban"),  # nobody there
        ("TIMEZONE", "Mars/Base"),
        ("TELEGRAM_BOT_TOKEN", "changeme"),
        ("TELEGRAM_BOT_TOKEN", " "),
        ("DEFAULT_LANGUAGE", "fr"),
        ("HTTP_PORT", "eighty"),
        ("TELEGRAM_WEBHOOK_URL", "https://bot.example.org/telegram/webhook"),  # no secret
    ],
)
def test_a_bad_setting_is_one_line_naming_it(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    done = cli("cases", "list")
    assert done.code == 2
    assert done.out == ""
    assert len(done.err_lines) == 1, done.err
    named = "TELEGRAM_WEBHOOK_SECRET" if variable == "TELEGRAM_WEBHOOK_URL" else variable
    assert done.err_lines[0].startswith(f"wolaiban: {named}"), done.err


def test_a_bad_setting_in_the_dot_env_file(cli: Cli) -> None:
    with open(".env", "w", encoding="utf-8") as env:  # the working folder's .env is read
        env.write("TIMEZONE=Mars/Base\n")
    done = cli("stats")
    assert done.code == 2
    assert len(done.err_lines) == 1, done.err
    assert done.err_lines[0].startswith("wolaiban: TIMEZONE")


def test_db_upgrade_on_a_fresh_file(cli: Cli) -> None:
    assert not cli.path.exists()
    done = cli("db", "upgrade")
    assert done.code == 0, done.err
    assert head_revision() in done.out
    with sqlite3.connect(cli.path) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        (version,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    assert {"cases", "case_event", "person", "community", "outbox", "invite"} <= tables
    assert version == head_revision()
    assert cli("db", "upgrade").code == 0  # again: nothing to do, still fine
    assert cli("cases", "list").out.strip() == "没有符合条件的诉求。"


def test_outbox_lists_waiting_messages(loaded_cli: Cli) -> None:
    cli = loaded_cli
    assert cli("outbox").out.strip() == "发件箱为空。"
    clock = Clock(local(datetime.now(SHANGHAI).date() - timedelta(days=1), 10, 0))
    new = NewReport("jzsj-south", "parcels", "快递堆在路上", location="172号楼")

    async def work(ctx: ServiceContext) -> None:
        await report(ctx, resident_id="r-jzsj-172", channel=Channel.TELEGRAM, new=new)

    cli.services(clock, work)
    rows = cli.json("outbox")
    # the resident hears the case was received, the manager gets the case card (Telegram ids)
    assert [(r["template"], r["channel"], r["address"]) for r in rows] == [
        ("case.received", "telegram", "4001"),
        ("case.card", "telegram", "2001"),
    ]
    done = cli("outbox")
    assert done.code == 0
    table = _rows(done.out)
    assert [row[:3] for row in table.values()] == [
        ["telegram", "4001", "case.received"],
        ["telegram", "2001", "case.card"],
    ]
    assert all("10:00" in row for row in table.values())  # due at once, in Beijing time
    assert cli("outbox", "--dead").out.strip() == "没有放弃发送的消息。"
