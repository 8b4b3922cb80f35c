"""The sweep: 100,000 open cases of which 1,000 are due; one sweep claims and handles them.

The database is made the way production makes it (the real migrations, the example directory),
then 100,000 open cases with their events are bulk-inserted: 1,000 whose acknowledge deadline
passed (each is due its first reminder) and 99,000 whose timer is ahead. Then:

- the claim query the sweep runs for every case (``bot.services.clock``: the earliest due active
  case, ``FOR UPDATE SKIP LOCKED``, ``LIMIT 1``; the same statement, rebuilt here) is timed with
  the index ``ix_cases_next_due_at`` and after dropping it (median of repeated runs): the index's
  baseline is its absence;
- ``run_due(ctx, limit=2000)`` handles the 1,000 (the clock injected: 10:00 on a Wednesday in
  Beijing, outside quiet hours), timed, and checked: each case reminded exactly once (its
  events), nothing left due, a second sweep finds nothing. Its baseline is the floor of any
  transactional sweep: the same claim plus one write, committed, 1,000 times.

    python bench/sweep.py [--quick] [--cases 100000] [--due 1000] [--repeat 30]
                          [--postgres postgresql+asyncpg://postgres@127.0.0.1:5432/test]

Exits 1 when a target is missed: the claim query ≤ 5 ms with the index and ≥ 10x faster than
without it (at 100,000 cases); the due cases handled exactly once.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as ``python bench/sweep.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, inspect, literal_column, text
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from bench.bulk import Mix, fill, prepare
from bench.common import Figure, fresh_postgres, machine_note, percentile, print_table
from bot.services.cases.timers import _ACTIVE, run_due
from core.due import Step
from db.engine import Database, open_database
from db.models import Case, CaseEvent, OutboxMessage
from sandbox.harness import MORNING, sqlite_url

PROPOSAL = "bench_ix_cases_status_next_due_at"
TARGET_CLAIM_MS, TARGET_SPEEDUP, FULL_SIZE = 5.0, 10.0, 100_000


def claim(now: Any) -> SelectOfScalar[Case]:
    """The sweep's claim, as ``bot.services.clock._step_one`` builds it."""
    return (
        select(Case)
        .where(col(Case.next_due_at) <= now, col(Case.status).in_(_ACTIVE))
        .order_by(col(Case.next_due_at))
        .limit(1)
        .with_for_update(skip_locked=True)
    )


async def time_claim(db: Database, now: datetime, repeat: int) -> list[float]:
    """Seconds the claim takes, each in its own write transaction as the sweep runs it (the
    transaction is begun beforehand, so only the query and the loading of its row count)."""
    times = []
    for _ in range(repeat + 2):
        async with db.transaction() as session:
            await session.exec(select(1))  # BEGIN (IMMEDIATE on SQLite) happens here
            started = time.perf_counter()
            found = (await session.exec(claim(now))).first()
            times.append(time.perf_counter() - started)
            assert found is not None, "no due case to claim"
    return times[2:]  # the first two warm the statement cache and the pages


async def plan(db: Database, now: datetime) -> str:
    """The database's plan for the claim, one line."""
    stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f")
    async with db.engine.connect() as conn:
        statement = claim(literal_column(f"'{stamp}'"))
        sql = str(statement.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
        if db.is_sqlite:
            rows = (await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")).all()
            return "; ".join(str(row[-1]) for row in rows)
        rows = (await conn.exec_driver_sql(f"EXPLAIN {sql}")).all()
        return "; ".join(str(row[0]).strip() for row in rows)


async def claim_floor(db: Database, now: datetime, count: int) -> float:
    """Seconds for ``count`` committed transactions that each claim a due case and write to it
    (its ``updated_at``; the timer stays, so the next claims the same case): the least any
    transactional sweep pays per case."""
    started = time.perf_counter()
    for _ in range(count):
        async with db.transaction() as session:
            case = (await session.exec(claim(now))).first()
            assert case is not None
            case.updated_at = now
            session.add(case)
    return time.perf_counter() - started


async def due_indexes(db: Database) -> list[tuple[str, list[str]]]:
    """The indexes of ``cases`` that cover ``next_due_at``: name and columns."""
    async with db.engine.connect() as conn:
        found = await conn.run_sync(lambda sync: inspect(sync).get_indexes("cases"))
    return [
        (str(index["name"]), [str(c) for c in index["column_names"]])
        for index in found
        if "next_due_at" in index["column_names"]
    ]


async def execute(db: Database, sql: str) -> None:
    """DDL in its own transaction; statistics refreshed on PostgreSQL. The pool is emptied
    after: SQLite's per-connection statement cache would otherwise answer EXPLAIN with the plan
    of an index that is gone."""
    async with db.engine.begin() as conn:
        await conn.execute(text(sql))
        if not db.is_sqlite:
            await conn.execute(text("ANALYZE cases"))
    await db.engine.dispose()


async def scalar(db: Database, query: Any) -> int:
    async with db.reading() as session:
        return int((await session.exec(query)).one())


@asynccontextmanager
async def database(args: argparse.Namespace) -> AsyncIterator[Database]:
    """A new, empty database: a SQLite file, or a fresh PostgreSQL database (dropped after)."""
    if args.postgres:
        async with fresh_postgres(args.postgres) as url:
            db = open_database(url)
            try:
                yield db
            finally:
                await db.dispose()
        return
    db = open_database(sqlite_url(args.workdir / "sweep.db"))
    try:
        yield db
    finally:
        await db.dispose()


async def main(args: argparse.Namespace) -> int:
    print(machine_note())
    now = MORNING
    async with database(args) as db:
        backend = "SQLite" if db.is_sqlite else "PostgreSQL"
        ctx = await prepare(db, lambda: now)
        started = time.perf_counter()
        statuses = await fill(db, Mix(cases=args.cases, due=args.due), now)
        filled = time.perf_counter() - started
        events = await scalar(db, select(func.count()).select_from(CaseEvent))
        print(
            f"{backend}: {args.cases:,} open cases ({dict(statuses)}), {args.due:,} due, "
            f"{events:,} events, inserted in {filled:.1f} s",
            flush=True,
        )
        if not db.is_sqlite:  # what autovacuum would have done by now
            async with db.engine.connect() as conn:
                await conn.execute(text("ANALYZE"))
        due_before = await scalar(db, due_count(now))

        with_plan = await plan(db, now)
        with_index = await time_claim(db, now, args.repeat)
        indexes = await due_indexes(db)
        for name, _ in indexes:
            await execute(db, f"DROP INDEX {name}")
        without_plan = await plan(db, now)
        without_index = await time_claim(db, now, args.repeat)
        proposal: list[float] = []
        proposal_plan = ""
        if ["status", "next_due_at"] not in [columns for _, columns in indexes]:
            await execute(db, f"CREATE INDEX {PROPOSAL} ON cases (status, next_due_at)")
            proposal_plan = await plan(db, now)
            proposal = await time_claim(db, now, args.repeat)
            await execute(db, f"DROP INDEX {PROPOSAL}")
        for name, columns in indexes:
            await execute(db, f"CREATE INDEX {name} ON cases ({', '.join(columns)})")
        print(f"plan with {', '.join(n for n, _ in indexes)}: {with_plan}")
        print(f"plan without: {without_plan}")
        if proposal:
            print(f"plan with an index on (status, next_due_at) instead: {proposal_plan}")
        sys.stdout.flush()

        floor = await claim_floor(db, now, args.due)
        outbox_before = await scalar(db, select(func.count()).select_from(OutboxMessage))
        started = time.perf_counter()
        done = await run_due(ctx, limit=2 * args.due)
        handled = time.perf_counter() - started
        again = await run_due(ctx, limit=2 * args.due)
        reminded = await scalar(
            db, select(func.count()).select_from(CaseEvent).where(CaseEvent.kind == "reminded")
        )
        distinct = await scalar(
            db,
            select(func.count(func.distinct(CaseEvent.case_number))).where(
                CaseEvent.kind == "reminded"
            ),
        )
        outbox = await scalar(db, select(func.count()).select_from(OutboxMessage)) - outbox_before
        left = await scalar(db, due_count(now))
    print(f"run_due: {dict(done)} in {handled:.2f} s; a second sweep: {dict(again)}")
    print(f"reminded events {reminded:,} on {distinct:,} cases; {outbox:,} messages queued")

    ms_with = statistics.median(with_index) * 1000
    ms_without = statistics.median(without_index) * 1000
    speedup = ms_without / ms_with if ms_with else 0.0
    full = args.cases >= FULL_SIZE
    exactly_once = (
        due_before == args.due
        and done == {Step.REMIND: args.due}
        and not again
        and reminded == distinct == args.due
        and left == 0
    )
    figures = [
        Figure(
            "claim query, with the index (median)",
            ms_with,
            "ms",
            ms_without,
            f"≤ {TARGET_CLAIM_MS:g} ms",
            ms_with <= TARGET_CLAIM_MS,
            digits=2,
        ),
        Figure(
            "claim query, with the index (p90)",
            percentile(with_index, 90) * 1000,
            "ms",
            percentile(without_index, 90) * 1000,
            digits=2,
        ),
        Figure(
            "claim query, without it (median)", ms_without, "ms", ms_without, digits=2, ratio=1.0
        ),
        Figure(
            "speed-up from the index",
            speedup,
            "x",
            target=f"≥ {TARGET_SPEEDUP:g}x" + ("" if full else f" at {FULL_SIZE:,} cases"),
            passed=speedup >= TARGET_SPEEDUP if full else None,
        ),
        Figure(
            f"{args.due:,} due cases: sweep time",
            handled,
            "s",
            floor,
            digits=2,
        ),
        Figure(
            "per case handled",
            handled / args.due * 1000,
            "ms",
            floor / args.due * 1000,
            digits=2,
        ),
        Figure(
            "handled exactly once",
            reminded,
            "",
            args.due,
            f"{args.due:,}, once each",
            exactly_once,
            digits=0,
        ),
    ]
    if proposal:  # measured only while the schema has no (status, next_due_at) index
        figures.insert(
            3,
            Figure(
                "claim query, index on (status, next_due_at) instead",
                statistics.median(proposal) * 1000,
                "ms",
                ms_without,
                digits=3,
            ),
        )
    misses = print_table(
        f"The sweep on {backend}: {args.cases:,} open cases, {args.due:,} due "
        "(baselines: the claim without its index; a bare claim-and-write per case)",
        figures,
    )
    print(f"\n{machine_note()}")
    print("(other work on this machine moves these figures; the ratios less so)")
    if args.keep:
        print(f"database kept in {args.workdir}")
    else:
        shutil.rmtree(args.workdir, ignore_errors=True)
    return 1 if misses else 0


def due_count(now: datetime) -> Any:
    return (
        select(func.count())
        .select_from(Case)
        .where(col(Case.next_due_at) <= now, col(Case.status).in_(_ACTIVE))
    )


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, help="open cases in all (default 100,000)")
    parser.add_argument("--due", type=int, help="of which due now (default 1,000)")
    parser.add_argument("--repeat", type=int, help="timings of each query (default 30)")
    parser.add_argument("--postgres", metavar="URL", help="bench on PostgreSQL (a fresh database)")
    parser.add_argument("--quick", action="store_true", help="a smoke test: 10,000 cases, 100 due")
    parser.add_argument("--keep", metavar="DIR", help="keep the SQLite database in DIR")
    args = parser.parse_args(argv)
    args.cases = args.cases or (10_000 if args.quick else FULL_SIZE)
    args.due = args.due or (100 if args.quick else 1000)
    args.repeat = args.repeat or (10 if args.quick else 30)
    args.workdir = Path(args.keep or tempfile.mkdtemp(prefix="wolaiban-sweep-"))
    args.workdir.mkdir(parents=True, exist_ok=True)
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
