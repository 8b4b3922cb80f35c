"""The rates read from the rollup equal the full recount of every case, whatever happened.

Random histories go through the real use cases — reports in two communities, acknowledge,
resolve, decline, rate, reassign, reject, close, cancel, the city's reopen, merge and unmerge, the
sweep (reminders, escalation, closing unrated) and the clock running past deadlines, weeks and
months at a time — and after each history ``wolaiban stats``' figures (overall, per community,
per manager, over whole local days, local months and years, UTC months and years, arbitrary
instants, everything) equal ``recount_rates``, the query that reads every case; and the rollup
kept step by step, every tier, equals the one ``db.aggregates.rebuild`` builds from the cases.
On SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlmodel import col

from bot.channels import BOOK
from bot.directory_file import read_directory
from bot.services.cases import lifecycle, merge, timers
from bot.services.cases.report import NewReport, report
from bot.services.cases.routing import local_zone
from bot.services.directory.load import load_directory
from bot.services.staff import stats
from bot.services.unit.context import Actor, ServiceContext, ServiceRefusal
from core.cases import TERMINAL, Action, Channel, Rating
from db.aggregates import GroupBy, rate_counts, rebuild, recount_rates
from db.engine import Database, open_database
from db.migrate import upgrade
from db.models import Case, Open311Key, RateRollup, RateRollupSpan
from db.models.rollup import COUNTS
from sandbox.harness import EXAMPLE, MORNING, postgres_schema, sqlite_url
from tests.conftest import BACKENDS, POSTGRES_URL, Clock

from .example import ACTORS, CITY_KEY

RESIDENT, NEIGHBOUR = ACTORS["resident"], Actor("r-yunwan-en", Channel.TELEGRAM)
STRANGER = ACTORS["stranger"]
MANAGERS = (ACTORS["manager"], ACTORS["other_manager"])
STAFF = (ACTORS["staff"], ACTORS["other_staff"])
REPORTERS = (
    (RESIDENT, NewReport("jzsj-south", "parcels", "快递堆在马路上", location="172号楼门口")),
    (NEIGHBOUR, NewReport("jzsj-south", "other", "楼道灯坏了", location="3号楼")),
    (STRANGER, NewReport("bgy-north", "other", "路灯坏了")),
)
STEPS = (
    "acknowledge",
    "resolve",
    "decline",
    "rate",
    "reassign",
    "reject",
    "close",
    "cancel",
    "reopen",
    "merge",
    "unmerge",
)
DAY = 60 * 24
# Minutes; the longest carry a history into the next months and year (it starts 25 November).
WAITS = (1, 20, 29, 31, 45, 60 * 7, DAY, 60 * 73, DAY * 9, DAY * 40, DAY * 150)
BYS: tuple[GroupBy | None, ...] = (None, "community", "manager")
NORTH = ["bgy-north"]

Op = tuple[Any, ...]
Periods = tuple[list[tuple[int, int]], list[Any], list[tuple[int, int]]]  # days, spans, months
OPS = st.one_of(
    st.tuples(st.just("report"), st.integers(0, len(REPORTERS) - 1)),
    st.tuples(st.sampled_from(STEPS), st.integers(0, 9), st.integers(0, 9)),
    st.tuples(st.just("wait"), st.sampled_from(WAITS)),
    st.tuples(st.just("sweep")),
)
# Windows: local days as ``stats`` asks (first day, days), and arbitrary instants (hours from
# the morning the history starts, and a length in minutes).
DAYS = st.tuples(st.integers(-1, 12), st.integers(1, 10))
INSTANTS = st.tuples(st.integers(-6, 300), st.integers(1, 60 * 24 * 5))
# Calendar months (the first, counted from November 2026, and how many): whole local months and
# years as ``stats`` asks them (Asia/Shanghai: a month less a UTC day, two pieces of days), and
# the same months in UTC (the month and year rows alone).
MONTHS = st.tuples(st.integers(0, 14), st.sampled_from((1, 2, 3, 12, 14)))


async def _step(ctx: ServiceContext, clock: Clock, numbers: list[int], op: Op) -> None:
    """One step of the history; a step the rules refuse changes nothing, as for a person."""
    kind = op[0]
    if kind == "wait":
        clock.advance(minutes=op[1])
        return
    if kind == "sweep":
        await timers.run_due(ctx)
        return
    if kind == "report":
        who, new = REPORTERS[op[1]]
        assert who.person_id is not None
        case = await report(ctx, resident_id=who.person_id, channel=who.channel, new=new)
        if case.number is not None and case.number not in numbers:
            numbers.append(case.number)
        return
    if not numbers:
        return
    number, other = numbers[op[1] % len(numbers)], numbers[op[2] % len(numbers)]
    for attempt in _attempts(kind, number, other):
        try:
            await attempt(ctx)
            return
        except ServiceRefusal:
            continue


def _attempts(kind: str, number: int, other: int) -> list[Any]:
    """Who might take the step, in turn (the rules let one of them, or none)."""
    n = number
    match kind:
        case "acknowledge":
            return [lambda c, a=a: lifecycle.acknowledge(c, number=n, actor=a) for a in MANAGERS]
        case "resolve":
            return [lambda c, a=a: lifecycle.resolve(c, number=n, actor=a) for a in MANAGERS]
        case "decline":
            return [lambda c, a=a: lifecycle.decline(c, number=n, actor=a) for a in MANAGERS]
        case "rate":
            rating = list(Rating)[other % len(Rating)]
            return [
                lambda c, a=a: lifecycle.rate(c, number=n, actor=a, rating=rating)
                for a, _ in REPORTERS
            ]
        case "reassign":
            target = "sup-jzsj-south"
            return [
                lambda c, a=a: lifecycle.reassign(c, number=n, actor=a, manager_id=target)
                for a in STAFF
            ]
        case "reject":
            return [lambda c, a=a: lifecycle.reject(c, number=n, actor=a, note="x") for a in STAFF]
        case "close":
            return [lambda c, a=a: lifecycle.close(c, number=n, actor=a, note="x") for a in STAFF]
        case "cancel":
            return [lambda c, a=a: lifecycle.cancel(c, number=n, actor=a) for a, _ in REPORTERS]
        case "reopen":
            city = ACTORS["city"]
            return [lambda c: lifecycle.act(c, number=n, actor=city, request=_REOPEN)]
        case "merge":
            return [lambda c, a=a: merge.merge(c, number=n, into=other, actor=a) for a in STAFF]
        case _:
            return [lambda c, a=a: merge.unmerge(c, number=n, actor=a) for a in STAFF]


_REOPEN = lifecycle.Request(Action.REOPEN, note="居民向12345反映仍未清理")


# Minutes after a history's end at which the figures are asked too: past the acknowledge
# deadlines of its last cases, a day on, past the resolve deadlines.
LATER = (25, 60 * 24, 60 * 24 * 30)


async def _agree(ctx: ServiceContext, periods: Periods) -> None:
    """Every figure asked of the rollup equals the recount, and the rollup equals a rebuild."""
    days, spans, months = periods
    now, start = ctx.clock(), MORNING.date()
    local = [stats.Period(_month(m), _month(m + n) - timedelta(days=1)) for m, n in months]
    local.append(stats.Period(date(2027, 1, 1), date(2027, 12, 31)))  # a local year
    for first, length in days:
        since = start + timedelta(days=first)
        local.append(stats.Period(since, since + timedelta(days=length - 1)))
    windows: list[tuple[datetime | None, datetime | None]] = [(None, None)]
    windows += [
        (MORNING + timedelta(hours=h), MORNING + timedelta(hours=h, minutes=m)) for h, m in spans
    ]
    windows += [(MORNING + timedelta(hours=h), None) for h, _ in spans[:1]]
    windows += [(None, MORNING + timedelta(hours=h)) for h, _ in spans[:1]]
    windows += [(_utc(_month(m)), _utc(_month(m + n))) for m, n in months]
    windows += [(_utc(date(2027, 1, 1)), _utc(date(2028, 1, 1)))]  # a UTC year
    local += [stats.Period(s, u) for s, u in await _next_to_cases(ctx, local=True)]
    windows += [(_utc(s), _utc(u)) for s, u in await _next_to_cases(ctx, local=False)]
    for by in BYS:
        for period in local:
            figures = await stats.rates(ctx, period=period, by=by)
            assert figures == await _recount(ctx, now, by, *await _bounds(ctx, period)), period
        # The open cases' shares move with the clock: now, and as the deadlines ahead pass
        # (acknowledge in half an hour, resolve in days), the rollup less what is still ahead.
        for low, high in windows:
            for when in (now, *(now + timedelta(minutes=m) for m in LATER)):
                async with ctx.db.reading() as session:
                    got = await rate_counts(
                        session=session, now=when, created_from=low, created_before=high, by=by
                    )
                assert got == await _recount(ctx, when, by, low, high), (low, high, when)
        for period in (stats.Period(), local[0]):  # one community: its rows of each tier
            bounds = (None, None) if period.since is None else await _bounds(ctx, period)
            got = await stats.rates(ctx, period=period, by=by, communities=NORTH)
            assert got == await _recount(ctx, now, by, *bounds, NORTH), period
    kept = await _rollup_rows(ctx)
    async with ctx.db.transaction() as session:
        await (await session.connection()).run_sync(rebuild)
    assert await _rollup_rows(ctx) == kept


async def _next_to_cases(ctx: ServiceContext, *, local: bool) -> list[tuple[date, date]]:
    """Periods (first day, day after the last) from the start of a case's month or year to the
    day before it, or from the day after it to the end: a month or a year less a few days, the
    day of the case among them — the rows taken away hold cases."""
    tz = await local_zone(ctx) if local else UTC
    query = select(col(Case.created_at)).where(col(Case.status).in_([s.value for s in TERMINAL]))
    async with ctx.db.reading() as session:
        created = sorted(row[0] for row in await session.exec(query))  # type: ignore[call-overload]
    found = []
    for moment in created[:: max(1, len(created) // 2)]:
        day = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(tz).date()
        month, year = day.replace(day=1), day.replace(month=1, day=1)
        found += [(month, day), (year, day), (day + timedelta(days=1), _month_after(month))]
        found.append((day + timedelta(days=1), year.replace(year=year.year + 1)))
    # ``stats`` takes the last day itself (included); no period is empty.
    return [(s, u - timedelta(days=1)) if local else (s, u) for s, u in found if s < u]


def _month_after(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def _month(index: int) -> date:
    """The first day of the ``index``-th month from November 2026."""
    months = 2026 * 12 + 10 + index
    return date(months // 12, months % 12 + 1, 1)


def _utc(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), UTC)


async def _bounds(ctx: ServiceContext, period: stats.Period) -> tuple[datetime, datetime]:
    """The instants ``stats`` turns a period of local days into."""
    tz = await local_zone(ctx)
    assert period.since is not None
    assert period.until is not None
    start = datetime.combine(period.since, datetime.min.time(), tz)
    return start, datetime.combine(period.until + timedelta(days=1), datetime.min.time(), tz)


async def _recount(
    ctx: ServiceContext,
    now: datetime,
    by: GroupBy | None,
    low: Any,
    high: Any,
    communities: list[str] | None = None,
) -> dict[str, Any]:
    async with ctx.db.reading() as session:
        return await recount_rates(
            session=session,
            now=now,
            created_from=low,
            created_before=high,
            by=by,
            communities=communities,
        )


Row = tuple[str, date, str, str, tuple[int, ...]]


async def _rollup_rows(ctx: ServiceContext) -> list[Row]:
    """The rollup's rows that hold a case, every tier (``day`` for the day rows), in key order."""
    async with ctx.db.reading() as session:
        days = (await session.exec(select(RateRollup))).all()  # type: ignore[call-overload]
        spans = (await session.exec(select(RateRollupSpan))).all()  # type: ignore[call-overload]
    found = [("day", r[0].day, r[0].community_id, r[0].manager_key, _counts(r[0])) for r in days]
    found += [
        (r[0].span, r[0].day, r[0].community_id, r[0].manager_key, _counts(r[0])) for r in spans
    ]
    return sorted(f for f in found if f[4][0])


def _counts(row: RateRollup | RateRollupSpan) -> tuple[int, ...]:
    return tuple(getattr(row, name) for name in COUNTS)


async def _history(backend: str, tmp: Path, ops: list[Op], periods: Periods) -> None:
    if backend == "postgres":
        assert POSTGRES_URL
        async with postgres_schema(POSTGRES_URL) as database:
            await upgrade(database)
            await _run(database, ops, periods)
        return
    database = open_database(sqlite_url(tmp))
    try:
        await upgrade(database)
        await _run(database, ops, periods)
    finally:
        await database.dispose()


async def _run(db: Database, ops: list[Op], periods: Periods) -> None:
    clock = Clock(MORNING)
    ctx = ServiceContext(channels=BOOK, db=db, clock=clock, default_language="zh")
    await load_directory(ctx, read_directory(EXAMPLE))
    async with ctx.db.transaction() as session:
        session.add(
            Open311Key(
                name=CITY_KEY, key_hash="0" * 64, communities=["jzsj-south"], created_at=MORNING
            )
        )
    numbers: list[int] = []
    for index, op in enumerate(ops):
        await _step(ctx, clock, numbers, op)
        if index == len(ops) // 2:
            await _agree(ctx, periods)  # midway, with cases still open
    await _agree(ctx, periods)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    ops=st.lists(OPS, min_size=5, max_size=60),
    days=st.lists(DAYS, min_size=1, max_size=3),
    spans=st.lists(INSTANTS, min_size=1, max_size=3),
    months=st.lists(MONTHS, min_size=1, max_size=2),
)
def test_the_rates_from_the_rollup_equal_the_recount(
    backend: str,
    tmp_path: Path,
    ops: list[Op],
    days: list[tuple[int, int]],
    spans: list[Any],
    months: list[tuple[int, int]],
) -> None:
    # Each example its own database (hypothesis reruns the body; fixtures would be shared).
    tmp = tmp_path / f"rollup-{len(list(tmp_path.iterdir()))}.db"
    asyncio.run(_history(backend, tmp, ops, (days, spans, months)))


async def test_a_case_closed_before_its_deadline_joins_the_response_base_when_it_passes(
    loaded: ServiceContext, clock: Clock
) -> None:
    """Staff close a case unacknowledged ten minutes after the report: it is no late response
    yet, and it is one once its acknowledge deadline (30 minutes) has passed unanswered."""
    ctx = loaded
    who, new = REPORTERS[0]
    assert who.person_id is not None
    case = await report(ctx, resident_id=who.person_id, channel=who.channel, new=new)
    assert case.number is not None
    clock.advance(minutes=10)
    await lifecycle.close(ctx, number=case.number, actor=STAFF[0], note="已处理")
    # Today (local days: a part of two UTC days) and all time (whole UTC days, the rollup).
    for period in (stats.Period(MORNING.date(), MORNING.date()), stats.Period()):
        before = (await stats.rates(ctx, period=period))[""]
        assert (before.cases, before.response_base, before.resolution_base) == (1, 0, 1)
    clock.advance(minutes=25)
    for period in (stats.Period(MORNING.date(), MORNING.date()), stats.Period()):
        after = (await stats.rates(ctx, period=period))[""]
        assert (after.cases, after.response_base, after.responded_in_time) == (1, 1, 0)
        assert after.response_rate == 0.0
