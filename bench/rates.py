"""The three rates at scale: ``stats.rates()`` read from the rollup next to the full recount of
every case (``db.aggregates.recount_rates``, what it replaced), in the same run, on one database.

The database is made as ``bench/records.py`` makes it (the real migrations, the example directory,
cases bulk-inserted with their events: 90% closed over the past year, 10% open), then the rollup
is built from them as migration 0022 builds it (bulk inserts go around the ORM that keeps it).
Each figure is the median of ``--repeat`` calls, in process, over everything, a month, a month
per community and per holder, and one day (the digest's question). The two must agree exactly.

A second table times the rollup's month and year rows (``db.rollup.plan``) beside the same
questions read from the day rows alone (the rollup before them): everything, a local calendar month
and a local year, overall, per community and for one community's staff. ``--communities N``
spreads the cases over N communities (a city's shape: under one ended case per community a day,
so the day rows are about as many as the cases) instead of the example directory's few.

    python bench/rates.py [--cases 100000] [--repeat 7] [--communities 1000]
                          [--postgres postgresql+asyncpg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from functools import partial
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as ``python bench/rates.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import String, cast, func, literal, select, update
from sqlmodel import col

from bench.bulk import Mix, fill, prepare
from bench.common import Figure, bench_database, machine_note, print_table
from bot.services.cases.routing import local_zone
from bot.services.staff import stats
from bot.services.unit.context import ServiceContext
from db import rollup
from db.aggregates import GroupBy, rebuild, recount_rates
from db.engine import Database, open_database
from db.models import Case, RateRollupSpan

Question = tuple[str, stats.Period, GroupBy | None, list[str] | None]
Bounds = tuple[datetime | None, datetime | None]


async def median_ms(call: Callable[[], Awaitable[Any]], repeat: int) -> tuple[float, Any]:
    """The median milliseconds of ``repeat`` calls, and the last answer."""
    found, answer = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        answer = await call()
        found.append((time.perf_counter() - started) * 1000)
    return statistics.median(found), answer


async def main(args: argparse.Namespace) -> int:
    """Fill, build the rollup, time both ways; print the table; 1 when they disagree."""
    print(machine_note())
    async with bench_database(args.postgres, "rates.db") as url:
        return await bench(args, url)


async def bench(args: argparse.Namespace, url: str) -> int:
    """The run on the database at ``url``."""
    db = open_database(url)
    now = datetime.now(UTC)
    ctx = await prepare(db, lambda: now)
    started = time.perf_counter()
    counts = await fill(db, Mix(cases=args.cases, closed_share=0.9), now)
    print(f"{args.cases:,} cases {dict(counts)} inserted in {time.perf_counter() - started:.1f} s")
    if args.communities:
        await spread(db, args.communities)
    started = time.perf_counter()
    async with db.engine.begin() as conn:
        # fill() leaves the rollup built (bulk rows pass its hook by); rebuild() builds it anew.
        rows = await conn.run_sync(rebuild)
        spans = await conn.scalar(select(func.count()).select_from(RateRollupSpan))
    took = time.perf_counter() - started
    print(f"rollup built: {rows:,} day rows, {spans:,} month and year rows in {took:.1f} s")
    tz = await local_zone(ctx)
    today = now.astimezone(tz).date()
    month = stats.Period(today.replace(day=1) - timedelta(days=40), today - timedelta(days=10))
    day = stats.Period(today - timedelta(days=20), today - timedelta(days=20))
    questions: list[tuple[str, stats.Period, GroupBy | None]] = [
        ("stats.rates() (everything)", stats.Period(), None),
        ("stats.rates(by=community)", stats.Period(), "community"),
        ("a month", month, None),
        ("a month, by community", month, "community"),
        ("a month, by holder", month, "manager"),
        ("one day (the digest)", day, None),
    ]
    try:
        figures = []
        for name, period, by in questions:
            new_way = partial(stats.rates, ctx, period=period, by=by)
            old_way = partial(recount, ctx, now, period, by, tz)
            figures.append(await versus(name, args.repeat, new_way, old_way, "= recount"))
        tiers, reads = [], []
        for name, period, by, communities in await tier_questions(db, today):
            new_way = partial(stats.rates, ctx, period=period, by=by, communities=communities)
            old_way = partial(days_only, new_way)
            tiers.append(await versus(name, args.repeat, new_way, old_way, "= day rows"))
            new_way = partial(rollup_read, ctx, bounds(period, tz), by, communities)
            old_way = partial(days_only, new_way)
            reads.append(await versus(name, args.repeat, new_way, old_way, "= day rows"))
    finally:
        await db.dispose()
    print_table(f"rates from the rollup vs the recount (baseline), {args.cases:,} cases", figures)
    where = f"{args.communities:,} communities" if args.communities else "the example directory"
    title = f"the month and year rows vs the day rows alone (baseline), {args.cases:,} cases"
    print_table(f"{title}, {where}: stats.rates()", tiers)
    print_table(f"{title}, {where}: the rollup's own read (rollup_sums)", reads)
    return 1 if not all(f.passed for f in [*figures, *tiers, *reads]) else 0


async def versus(
    name: str,
    repeat: int,
    new_way: Callable[[], Awaitable[Any]],
    old_way: Callable[[], Awaitable[Any]],
    target: str,
) -> Figure:
    """One figure: ``new_way``'s median beside ``old_way``'s, and whether they answer alike."""
    new, got = await median_ms(new_way, repeat)
    old, want = await median_ms(old_way, repeat)
    same = got == want
    label = f"{name}{'' if same else ' (DISAGREES)'}"
    return Figure(label, new, "ms", baseline=old, target=target, passed=same)


async def tier_questions(db: Database, today: date) -> list[Question]:
    """Long periods of local days, as ``stats`` and the console ask them."""
    last_month = today.replace(day=1) - timedelta(days=1)
    month = stats.Period(last_month.replace(day=1), last_month)
    year = stats.Period(date(today.year - 1, 1, 1), date(today.year - 1, 12, 31))
    async with db.reading() as session:
        one = await session.scalar(select(func.min(col(Case.community_id))))
    return [
        ("everything", stats.Period(), None, None),
        ("everything, by community", stats.Period(), "community", None),
        ("a local month", month, None, None),
        ("a local month, by community", month, "community", None),
        ("a local month, one community", month, None, [str(one)]),
        ("last local year, by holder", year, "manager", None),
        ("everything, one community", stats.Period(), None, [str(one)]),
    ]


async def days_only(question: Callable[[], Awaitable[Any]]) -> Any:
    """``question`` answered with every period read from the day rows (the rollup before its
    month and year rows)."""
    with _days_only():
        return await question()


@contextmanager
def _days_only() -> Iterator[None]:
    kept = rollup.plan

    def days(first: date | None, last: date | None) -> list[rollup.Term]:
        return [rollup.Term("day", first or rollup.BEGINNING, last or rollup.ENDING)]

    rollup.plan = days
    try:
        yield
    finally:
        rollup.plan = kept


async def spread(db: Database, communities: int) -> None:
    """The cases spread over ``communities`` communities, each with a manager of its own."""
    number = cast(col(Case.number) % communities, String)
    moved = update(Case).values(community_id=literal("bench-c") + number)
    held = (
        update(Case)
        .where(col(Case.manager_id).is_not(None))
        .values(manager_id=literal("bench-m") + number)
    )
    async with db.engine.begin() as conn:
        await conn.execute(moved)
        await conn.execute(held)


async def recount(
    ctx: ServiceContext, now: datetime, period: stats.Period, by: GroupBy | None, tz: Any
) -> Any:
    """The figures as they were counted before the rollup: every case of the period read."""
    start, end = bounds(period, tz)
    async with ctx.db.reading() as session:
        return await recount_rates(
            session=session, now=now, created_from=start, created_before=end, by=by
        )


async def rollup_read(
    ctx: ServiceContext, period: Bounds, by: GroupBy | None, communities: list[str] | None
) -> Any:
    """What the rollup answers for the whole UTC days of ``period`` (its part of the rates)."""
    days = rollup.whole_days(*period)
    async with ctx.db.reading() as session:
        return await rollup.rollup_sums(session, by, days.first, days.last, communities)


def bounds(period: stats.Period, tz: Any) -> Bounds:
    """The instants ``stats`` turns a period of local days into."""
    start = end = None
    if period.since is not None:
        start = datetime.combine(period.since, clock_time(), tz)
    if period.until is not None:
        end = datetime.combine(period.until + timedelta(days=1), clock_time(), tz)
    return start, end


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--postgres", default=None)
    parser.add_argument("--communities", type=int, default=0, help="0: the example's own")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
