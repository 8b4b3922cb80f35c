"""The dispatcher's claim under a backlog: many Telegram cards pending after a burst, a long sent
history behind them; each claim takes the next batch, oldest first.

The database is made by the real migrations, then ``--sent`` sent rows (history) and
``--pending`` due Telegram cards are bulk-inserted (every tenth card with an edit queued behind
it, every hundredth to an address that opted out). ``claim_due(limit=--batch)`` then runs
``--repeat`` times, each claiming the next oldest batch, timed from the call to its return (the
write turn held for all of it on SQLite). The baseline is the same claim with a small backlog
(``--batch`` × (``--repeat`` + 1) pending, no history): a claim should not grow with either.

    python bench/claims.py [--quick] [--pending 141000] [--sent 100000] [--batch 300]
                           [--repeat 10] [--postgres postgresql+asyncpg://…/test]

Exits 1 when a target is missed: a claim of 300 at the full backlog ≤ 50 ms (median) and ≤ 3×
the small backlog's.
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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as ``python bench/claims.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, text

from bench.common import Figure, fresh_postgres, machine_note, print_table
from bot.channels import BOOK
from bot.delivery.claims import claim_due
from bot.services.unit.context import ServiceContext
from db.engine import Database, open_database
from db.migrate import upgrade
from db.models import OptOut, OutboxMessage
from sandbox.harness import sqlite_url

TARGET_MS, TARGET_GROWTH = 50.0, 3.0
LEASE = timedelta(seconds=20)
CHUNK = 5_000
OPTED = "+15550009999"


@asynccontextmanager
async def database(args: argparse.Namespace, workdir: Path, name: str) -> AsyncIterator[Database]:
    """A migrated, empty database on the chosen backend."""
    if args.postgres:
        async with fresh_postgres(args.postgres) as url:
            db = open_database(url)
            try:
                await upgrade(db)
                yield db
            finally:
                await db.dispose()
        return
    db = open_database(sqlite_url(workdir / f"{name}.db"))
    try:
        await upgrade(db)
        yield db
    finally:
        await db.dispose()


def _row(n: int, at: datetime, key: str = "card", **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "idempotency_key": f"bench:{key}:{n}",
        "channel": "telegram",
        "address": str(100_000 + n % 5_000),
        "template": "case.card",
        "params": {},
        "language": "zh",
        "text": f"📋 诉求 #{n}",
        "buttons": [[{"text": "受理", "data": f"ack:{n}"}]],
        "photos": [],
        "urgent": False,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": at,
        "created_at": at,
        "provider_message_id": None,
        "edit_of": None,
    }
    row.update(values)
    return row


async def fill(db: Database, *, sent: int, pending: int, at: datetime) -> None:
    """``sent`` rows of history, then ``pending`` due cards (a tenth with an edit behind)."""
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    rows = [_row(n, at, status="sent", provider_message_id=str(n)) for n in range(sent)]
    for n in range(sent, sent + pending):
        rows.append(_row(n, at, address=OPTED if n % 100 == 0 else str(100_000 + n % 5_000)))
        if n % 10 == 0:  # an edit of a card sent long ago, waiting behind the burst
            rows.append(_row(n, at, "edit", edit_of=1 + n % max(sent, 1), template="card.edit"))
    async with db.engine.begin() as conn:
        for start in range(0, len(rows), CHUNK):
            await conn.execute(insert(table), rows[start : start + CHUNK])
        await conn.execute(insert(OptOut.__table__), [{"phone": OPTED, "at": at, "source": "sms"}])  # type: ignore[attr-defined]
        await conn.execute(text("ANALYZE"))


async def claims(db: Database, *, batch: int, repeat: int, at: datetime) -> list[float]:
    """Milliseconds of each of ``repeat`` claims of ``batch`` rows."""
    ctx = ServiceContext(db=db, clock=lambda: at + timedelta(minutes=1), channels=BOOK)
    took = []
    for _ in range(repeat):
        started = time.perf_counter()
        got = await claim_due(ctx, channel="telegram", limit=batch, lease=LEASE, holder="bench:1")
        took.append((time.perf_counter() - started) * 1000)
        assert got, "the backlog ran out"
    return took


async def main(args: argparse.Namespace) -> int:
    """Fill, time, print; 1 when a target is missed."""
    workdir = Path(tempfile.mkdtemp(prefix="wolaiban-claims-"))
    at = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
    backend = "PostgreSQL" if args.postgres else "SQLite"
    print(machine_note())
    try:
        async with database(args, workdir, "small") as db:
            await fill(db, sent=0, pending=args.batch * (args.repeat + 1), at=at)
            small = await claims(db, batch=args.batch, repeat=args.repeat, at=at)
        async with database(args, workdir, "large") as db:
            started = time.perf_counter()
            await fill(db, sent=args.sent, pending=args.pending, at=at)
            print(
                f"filled {args.sent:,} sent + {args.pending:,} pending in "
                f"{time.perf_counter() - started:.1f} s"
            )
            large = await claims(db, batch=args.batch, repeat=args.repeat, at=at)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    median, base = statistics.median(large), statistics.median(small)
    name = f"claim of {args.batch}, {args.pending:,} pending + {args.sent:,} sent"
    figures = [
        Figure(f"{name}: median", median, "ms", base, f"≤ {TARGET_MS:g} ms", median <= TARGET_MS),
        Figure(f"{name}: worst", max(large), "ms", max(small)),
        Figure(
            "growth over the small backlog",
            median / base,
            "x",
            target=f"≤ {TARGET_GROWTH:g}x",
            passed=median / base <= TARGET_GROWTH,
            digits=2,
        ),
    ]
    missed = print_table(f"The claim under a backlog on {backend} (baseline: a small one)", figures)
    print(machine_note())
    return 1 if missed else 0


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pending", type=int, default=141_000)
    parser.add_argument("--sent", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--postgres", metavar="URL", help="a fresh database on this server")
    parser.add_argument("--quick", action="store_true", help="a smoke test: 5,000 pending")
    args = parser.parse_args(argv)
    if args.quick:
        args.pending, args.sent, args.repeat = 5_000, 5_000, 3
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
