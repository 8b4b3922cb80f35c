"""The three rates at scale: ``stats.rates()`` read from the rollup next to the full recount of
every case (``db.aggregates.recount_rates``, what it replaced), in the same run, on one database.

The database is made as ``bench/records.py`` makes it (the real migrations, the example directory,
cases bulk-inserted with their events: 90% closed over the past year, 10% open), then the rollup
is built from them as migration 0022 builds it (bulk inserts go around the ORM that keeps it).
Each figure is the median of ``--repeat`` calls, in process, over everything, a month, a month
per community and per holder, and one day (the digest's question). The two must agree exactly.

    python bench/rates.py [--cases 100000] [--repeat 7]
                          [--postgres postgresql+asyncpg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as ``python bench/rates.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import delete

from bench.bulk import Mix, fill, prepare
from bench.common import Figure, bench_database, machine_note, print_table
from bot.services.cases.routing import local_zone
from bot.services.staff import stats
from bot.services.unit.context import ServiceContext
from db.aggregates import GroupBy, rebuild, recount_rates
from db.engine import open_database
from db.models import RateRollup


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
    started = time.perf_counter()
    async with db.engine.begin() as conn:
        # fill() leaves the rollup built (bulk rows pass its hook by); time building it anew.
        await conn.execute(delete(RateRollup))
        rows = await conn.run_sync(rebuild)
    print(f"rollup built: {rows:,} rows in {time.perf_counter() - started:.1f} s")
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
    figures, disagree = [], 0
    try:
        for name, period, by in questions:

            def new_way(p: stats.Period = period, b: GroupBy | None = by) -> Awaitable[Any]:
                return stats.rates(ctx, period=p, by=b)

            def old_way(p: stats.Period = period, b: GroupBy | None = by) -> Awaitable[Any]:
                return recount(ctx, now, p, b, tz)

            new, got = await median_ms(new_way, args.repeat)
            old, want = await median_ms(old_way, args.repeat)
            same = got == want
            disagree += not same
            figures.append(
                Figure(
                    f"{name}{'' if same else ' (DISAGREES)'}",
                    new,
                    "ms",
                    baseline=old,
                    target="= recount",
                    passed=same,
                )
            )
    finally:
        await db.dispose()
    print_table(f"rates from the rollup vs the recount (baseline), {args.cases:,} cases", figures)
    return 1 if disagree else 0


async def recount(
    ctx: ServiceContext, now: datetime, period: stats.Period, by: GroupBy | None, tz: Any
) -> Any:
    """The figures as they were counted before the rollup: every case of the period read."""
    start = end = None
    if period.since is not None:
        start = datetime.combine(period.since, clock_time(), tz)
    if period.until is not None:
        end = datetime.combine(period.until + timedelta(days=1), clock_time(), tz)
    async with ctx.db.reading() as session:
        return await recount_rates(
            session=session, now=now, created_from=start, created_before=end, by=by
        )


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--postgres", default=None)
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
