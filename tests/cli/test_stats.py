"""The three rates (docs/reference.md §5) against cases whose rates are worked out by hand below.

The cases are ``build_scenario``'s (tests/cli/conftest.py), made through the real services:

case  community   response (ack due 30m)   resolution                        rating
1     jzsj-south  10m: in time             resolved                          satisfied
2     jzsj-south  45m: late                resolved                          basically (x 0.9)
3     jzsj-south  in time                  past due, left dissatisfied: no   dissatisfied
4     bgy-north   in time                  resolved, closed unrated          -
5     bgy-north   cancelled: in no rate    cancelled: in no rate             -
6     bgy-north   nobody answered: late    past due, never resolved: no      -
7     yuanxiang   in time                  closed by staff, unresolved: no   -
8     yuanxiang   merged into 7: counted in nothing, not even in the cases  -
9     bgy-north   in time                  reopened, resolved again: yes     satisfied (at last)
10    yunwan      not due yet: not counted not due yet: not counted          -
11    jzsj-south  declined, nobody: late   past due, never resolved: no      -   (manager "-")

All 10 (8 is 7's problem): response 5/8 (1 3 4 7 9 of 1 2 3 4 6 7 9 11) = 0.625;
resolution 4/8 (1 2 4 9) = 0.5;
satisfaction (2 satisfied + 0.9 x 1 basically) / 4 rated (1 2 3 9) = 2.9 / 4 = 0.725.
Cases 1-5 are on day 1, 6-9 and 11 on day 2 (6 at 07:30 Beijing, still day 1 in UTC), and 10 at
the time the rates are asked for.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from bot.services.cases.lifecycle import acknowledge, rate, resolve
from bot.services.staff import stats
from bot.services.unit.context import Actor, ServiceContext
from core.cases import Channel, Rating
from core.rates import Rates
from tests.conftest import Clock

from .conftest import SHANGHAI, Cli, Scenario, build_scenario, local, report_fresh

Figures = tuple[int, float | None, float | None, float | None]  # cases and the three rates

ALL: Figures = (10, 5 / 8, 4 / 8, 2.9 / 4)
BY_COMMUNITY: dict[str, Figures] = {
    # 4 5 6 9: answered in time 4 9 of 4 6 9; resolved 4 9 of 4 6 9; rated 9 (satisfied)
    "bgy-north": (4, 2 / 3, 2 / 3, 1.0),
    # 1 2 3 11: in time 1 3 of all four; resolved 1 2 of four; (1 + 0.9 + 0) / 3 rated
    "jzsj-south": (4, 2 / 4, 2 / 4, 1.9 / 3),
    # 7 (8 was merged into it): answered in time but closed by staff unresolved; nobody rated:
    # null, not 0
    "yuanxiang": (1, 1.0, 0.0, None),
    # 10: nothing due yet, nothing rated: every rate null
    "yunwan": (1, None, None, None),
}
BY_MANAGER: dict[str, Figures] = {
    "-": (1, 0.0, 0.0, None),  # 11, declined: held by nobody
    "mgr-bgy-north": (4, 2 / 3, 2 / 3, 1.0),
    "mgr-jzsj-south": (3, 2 / 3, 2 / 3, 1.9 / 3),  # 1 2 3
    "mgr-yuanxiang": (1, 1.0, 0.0, None),
    "mgr-yunwan": (1, None, None, None),
}
# Day 1 alone, cases 1-5: in time 1 3 4 of 1 2 3 4; resolved 1 2 4 of 1 2 3 4; rated 1 2 3.
DAY1: Figures = (5, 3 / 4, 3 / 4, 1.9 / 3)
# Day 2 alone, cases 6 7 9 11 (8 merged): in time 7 9 of 6 7 9 11; resolved 9 of those four;
# rated 9.
DAY2: Figures = (4, 2 / 4, 1 / 4, 1.0)
# Day 2 onwards adds case 10, which counts in no rate yet.
FROM_DAY2: Figures = (5, 2 / 4, 1 / 4, 1.0)
NOTHING: Figures = (0, None, None, None)


def figures(rates: Rates | dict[str, Any]) -> Figures:
    """Cases and the three rates, from the service's ``Rates`` or from ``stats --json``."""
    if isinstance(rates, Rates):
        return (rates.cases, rates.response_rate, rates.resolution_rate, rates.satisfaction_rate)
    keys = ("cases", "response_rate", "resolution_rate", "satisfaction_rate")
    return (rates[keys[0]], rates[keys[1]], rates[keys[2]], rates[keys[3]])


def same_groups(got: dict[str, Figures], expected: dict[str, Figures]) -> None:
    """The same groups, in key order, with the same figures."""
    assert list(got) == sorted(expected)
    for key, wanted in expected.items():
        assert got[key] == pytest.approx(wanted), key


# --- the service, on SQLite and PostgreSQL ------------------------------------------------------


async def test_rates_of_the_scenario(loaded: ServiceContext, clock: Clock) -> None:
    day1 = clock.now.astimezone(SHANGHAI).date()
    await build_scenario(loaded, clock, day1)
    clock.now = local(day1 + timedelta(days=12), 10)  # every deadline of 1-11 has passed
    await report_fresh(loaded, clock)

    overall = (await stats.rates(loaded))[""]
    assert figures(overall) == pytest.approx(ALL)
    assert (overall.satisfied, overall.basically_satisfied, overall.dissatisfied) == (2, 1, 1)
    by_community = await stats.rates(loaded, by="community")
    same_groups({k: figures(v) for k, v in by_community.items()}, BY_COMMUNITY)
    by_manager = await stats.rates(loaded, by="manager")
    same_groups({k: figures(v) for k, v in by_manager.items()}, BY_MANAGER)

    day2 = day1 + timedelta(days=1)
    periods: list[tuple[stats.Period, Figures]] = [
        (stats.Period(since=day1, until=day1), DAY1),
        (stats.Period(until=day1), DAY1),
        (stats.Period(since=day2, until=day2), DAY2),
        (stats.Period(since=day2), FROM_DAY2),
        (stats.Period(since=day1 + timedelta(days=13)), NOTHING),
    ]
    for period, expected in periods:
        assert figures((await stats.rates(loaded, period=period))[""]) == pytest.approx(expected)


async def test_a_case_counts_once_its_deadline_passes(loaded: ServiceContext, clock: Clock) -> None:
    number = await report_fresh(loaded, clock)  # yunwan: acknowledge within 30m

    async def now() -> Figures:
        return figures((await stats.rates(loaded))[""])

    clock.advance(minutes=29)
    assert await now() == (1, None, None, None)  # nothing due yet: no rate, not 0 %
    clock.advance(minutes=2)
    assert await now() == (1, 0.0, None, None)  # 31m, unanswered: counted, and late
    manager = "mgr-yunwan"
    clock.advance(minutes=9)
    await acknowledge(loaded, number=number, actor=_actor(manager))
    assert await now() == (1, 0.0, None, None)  # answered at 40m: still late
    clock.advance(minutes=10)
    await resolve(loaded, number=number, actor=_actor(manager))
    assert await now() == (1, 0.0, None, None)  # resolved, not closed, not overdue yet
    basically = Rating.BASICALLY_SATISFIED
    await rate(loaded, number=number, actor=_actor("r-yunwan-en"), rating=basically)
    assert await now() == pytest.approx((1, 0.0, 1.0, 0.9))  # basically satisfied weighs 0.9


def _actor(person: str) -> Actor:
    return Actor(person, Channel.TELEGRAM)


# --- ``wolaiban stats`` -------------------------------------------------------------------------


def test_stats_json(cli: Cli, scenario: Scenario) -> None:
    got = cli.json("stats")
    assert figures(got) == pytest.approx(ALL)
    assert (got["response_base"], got["responded_in_time"]) == (8, 5)
    assert (got["resolution_base"], got["resolved"]) == (8, 4)
    assert (got["rated"], got["satisfied"], got["basically_satisfied"]) == (4, 2, 1)


@pytest.mark.parametrize(("by", "expected"), [("community", BY_COMMUNITY), ("manager", BY_MANAGER)])
def test_stats_json_by(cli: Cli, scenario: Scenario, by: str, expected: dict[str, Figures]) -> None:
    got = cli.json("stats", "--by", by)
    assert isinstance(got, list)
    same_groups({row["key"]: figures(row) for row in got}, expected)


def _day(scenario: Scenario, offset: int) -> str:
    return (scenario.day1 + timedelta(days=offset)).isoformat()


def test_stats_json_by_local_dates(cli: Cli, scenario: Scenario) -> None:
    day1, day2 = _day(scenario, 0), _day(scenario, 1)
    assert figures(cli.json("stats", "--since", day1, "--until", day1)) == pytest.approx(DAY1)
    assert figures(cli.json("stats", "--until", day1)) == pytest.approx(DAY1)
    assert figures(cli.json("stats", "--since", day2, "--until", day2)) == pytest.approx(DAY2)
    assert figures(cli.json("stats", "--since", day2)) == pytest.approx(FROM_DAY2)


def test_stats_json_is_null_when_nothing_counts(cli: Cli, scenario: Scenario) -> None:
    tomorrow = (date.today() + timedelta(days=2)).isoformat()
    done = cli("stats", "--since", tomorrow, "--json")
    assert done.code == 0
    assert '"response_rate": null' in done.out  # null, not 0 and not NaN
    assert figures(cli.json("stats", "--since", tomorrow)) == NOTHING


def test_stats_table_for_people(cli: Cli, scenario: Scenario) -> None:
    done = cli("stats", "--by", "community")
    assert done.code == 0
    lines = done.out.splitlines()
    assert lines[0] == "三率（全部时间）"
    assert lines[1].split() == ["分组", "诉求数", "响应率", "解决率", "满意率"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[3:]}
    assert rows == {
        "bgy-north": ["4", "66.7%", "66.7%", "100.0%"],
        "jzsj-south": ["4", "50.0%", "50.0%", "63.3%"],
        "yuanxiang": ["1", "100.0%", "0.0%", "-"],
        "yunwan": ["1", "-", "-", "-"],
    }
    day1 = _day(scenario, 0)
    done = cli("stats", "--since", day1, "--until", day1)
    assert done.out.splitlines()[0] == f"三率（{day1} – {day1}）"
    assert done.out.splitlines()[3].split() == ["—", "5", "75.0%", "75.0%", "63.3%"]


@pytest.mark.parametrize(
    "argv",
    [
        ["stats", "--since", "2026-13-01"],
        ["stats", "--until", "yesterday"],
        ["stats", "--by", "street"],
    ],
)
def test_stats_usage_errors(cli: Cli, argv: list[str]) -> None:
    done = cli(*argv)
    assert done.code == 2
    assert done.out == ""
    assert "usage: wolaiban stats" in done.err
