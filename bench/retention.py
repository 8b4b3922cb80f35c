"""Retention over 100,000 cases: how long a write holds the writer, and how long a run takes.

The database is made the way production makes it (the real migrations, the example directory),
then filled with Core bulk inserts, in the order time wrote them: 100,000 cases over the last
1,000 days (3 % still open, the rest closed, cancelled or rejected a few days after they were
reported) of 20,000 residents met by SMS, with their events, three messages each (all sent; the
newest 1 % still waiting), two inbound receipts each, 5,000 drafts, and photos on 5 % of the
cases (a Telegram file id and 48 KB of bytes; eight cases carry a 5 MB photo, the most an MMS
fetch takes). Then:

- the first run with the default policy (texts 180 days, receipts 30, drafts 7, photos 730): on
  a database that never dropped anything every kind is due at once — the heaviest run there is.
  Each write is timed from asking the writer to its commit (nothing else writes meanwhile, so
  that is how long the writer's turn is held); its longest, p99 and count per kind, and the total;
- the next day's run, when nothing is due: what the daily walk costs on its own;
- reporters anonymised (ANONYMISE_REPORTERS_DAYS=365, off by default): a sample of residents
  whose cases all ended over a year ago, each in the unit of work retention gives it, timed.

    python -m bench.retention [--quick] [--cases 100000] [--sample 30]
                              [--postgres postgresql+asyncpg://postgres@127.0.0.1:5432/test]

Exits 1 when a write of the default policy holds the writer over 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text
from sqlmodel import col, func, select

from bench.bulk import prepare
from bench.common import Figure, fresh_postgres, machine_note, percentile, print_table
from bot import heap
from bot.services.data.retention import PAUSE, Retention, Swept, retain
from bot.services.unit.context import Actor, ServiceContext, ServiceRefusal
from bot.services.unit.work import unit_of_work
from db.engine import Database, open_database
from db.models import (
    Case,
    CaseEvent,
    CasePhoto,
    Category,
    Draft,
    Identity,
    InboundReceipt,
    OutboxMessage,
    Person,
    RoutingRule,
)
from sandbox.harness import MORNING, sqlite_url

TARGET_MS, FULL_SIZE = 50.0, 100_000
NOW = MORNING
SPAN = timedelta(days=1000)
CHUNK = 5000
SMALL_PHOTO, BIG_PHOTO = os.urandom(48 * 1024), os.urandom(5_000_000)
ENDINGS = ("closed",) * 8 + ("cancelled", "rejected")


Row = dict[str, Any]
TABLES: dict[str, Any] = {
    "person": Person,
    "channel_identity": Identity,
    "cases": Case,
    "case_event": CaseEvent,
    "outbox": OutboxMessage,
    "inbound_receipt": InboundReceipt,
    "case_photo": CasePhoto,
    "draft": Draft,
}


async def _insert(db: Database, model: Any, rows: list[Row], chunk: int) -> None:
    """Executemany in chunks, each its own transaction."""
    for start in range(0, len(rows), chunk):
        async with db.engine.begin() as conn:
            await conn.execute(insert(model.__table__), rows[start : start + chunk])


@dataclass
class World:
    """What the rows are made of: the routes, the categories, the residents, a random source."""

    routes: list[tuple[str, str]]  # (community, manager)
    categories: list[str]
    residents: list[str]
    rng: random.Random


def _person(i: int, rid: str, world: World) -> dict[str, Any]:
    community = world.routes[i % len(world.routes)][0]
    return dict(id=rid, name=f"居民{i}", role="resident", language="zh", active=True,
                source="sms", community_id=community)  # fmt: skip


def _identity(rid: str) -> dict[str, Any]:
    return dict(person_id=rid, channel="sms", address=phone(rid), reachable=True,
                preferred=False, source="sms", updated_at=NOW - SPAN)  # fmt: skip


def phone(person_id: str) -> str:
    """A bench resident's phone (their id is ``sms-<phone>``, as a stranger's is)."""
    return person_id.removeprefix("sms-")


def _case(number: int, at: datetime, status: str, ended: datetime | None, world: World) -> Row:
    community, manager = world.routes[number % len(world.routes)]
    place = f"{number % 200 + 1}号楼"
    return dict(
        number=number, status=status, community_id=community, channel="sms",
        category_id=world.categories[number % len(world.categories)], location=place,
        description=f"居民{number}：{place}楼下的快递堆在马路上", photos=[],
        resident_id=world.residents[world.rng.randrange(len(world.residents))],
        manager_id=manager, escalation_level=0, reopen_count=0, reminders_sent=0,
        ack_due_at=at, resolve_due_at=at, next_due_at=None if ended else at, created_at=at,
        closed_at=ended, updated_at=ended or at,
    )  # fmt: skip


def _event(case: Row, kind: str, at: datetime) -> Row:
    return dict(case_number=case["number"], at=at, kind=kind, actor_id=None, channel="sms",
                note="", data={})  # fmt: skip


def _message(case: Row, n: int, to: str, at: datetime, waiting: bool) -> Row:
    number, place = case["number"], case["location"]
    address = phone(to) if to == case["resident_id"] else to
    return dict(
        idempotency_key=f"bench:{number}:{n}", channel="sms", person_id=to, address=address,
        case_number=number, template="case.update", language="zh", buttons=[], photos=[],
        params={"number": number, "location": place, "name": f"居民{number}"},
        text=f"#{number} {place} 居民{number}：您的诉求已受理", urgent=False, attempts=0,
        status="pending" if waiting else "sent", next_attempt_at=at, created_at=at,
        sent_at=None if waiting else at + timedelta(seconds=3),
    )  # fmt: skip


def _receipt(case: Row, n: int) -> Row:
    at = case["created_at"] + timedelta(minutes=n)
    return dict(source="sms", external_id=f"SM{case['number']}-{n}",
                sender=phone(case["resident_id"]), received_at=at)  # fmt: skip


def _photos(case: Row, big: bool) -> list[Row]:
    number, at = case["number"], case["created_at"]
    content = BIG_PHOTO if big else SMALL_PHOTO
    return [
        dict(case_number=number, position=0, source="telegram", file_id=f"AgAC{number}",
             content=None, size=None, content_type="image/jpeg", created_at=at),
        dict(case_number=number, position=1, source="sms", file_id=None, content=content,
             size=len(content), content_type="image/jpeg", created_at=at),
    ]  # fmt: skip


def _draft(rid: str, rng: random.Random) -> Row:
    at = NOW - timedelta(days=rng.uniform(0, 60))
    return dict(chat=f"sms:{rid}", person_id=rid, flow="report", step="describe",
                data={"text": "楼下"}, updated_at=at)  # fmt: skip


async def fill(db: Database, cases: int, seed: int = 11) -> dict[str, int]:
    """The cases and everything around them, in the order time wrote them; counts per table."""
    async with db.reading() as session:
        rules = (await session.exec(select(RoutingRule))).all()
        categories = list((await session.exec(select(Category.id))).all())
    world = World(
        routes=sorted({(r.community, r.manager_id) for r in rules}),
        categories=sorted(categories),
        residents=[f"sms-+86137{i:08d}" for i in range(max(cases // 5, 10))],
        rng=random.Random(seed),
    )
    rng = world.rng
    tables: dict[str, list[Row]] = {name: [] for name in TABLES}
    tables["person"] = [_person(i, rid, world) for i, rid in enumerate(world.residents)]
    tables["channel_identity"] = [_identity(rid) for rid in world.residents]
    for number, at in enumerate(sorted(NOW - SPAN * rng.random() for _ in range(cases)), 1):
        ended: datetime | None = at + timedelta(days=rng.uniform(0.5, 5))
        if number > cases * 0.97 or (ended is not None and ended >= NOW):
            ended = None  # still open
        status = "assigned" if ended is None else ENDINGS[number % len(ENDINGS)]
        case = _case(number, at, status, ended, world)
        tables["cases"].append(case)
        kinds = [("reported", at), ("routed", at), *([(status, ended)] if ended else [])]
        tables["case_event"] += [_event(case, kind, when) for kind, when in kinds]
        told = [(case["resident_id"], at), (case["manager_id"], at)]
        told += [(case["resident_id"], ended)] if ended else []
        waiting = number > cases * 0.99
        tables["outbox"] += [
            _message(case, n, to, when, waiting) for n, (to, when) in enumerate(told)
        ]
        tables["inbound_receipt"] += [_receipt(case, n) for n in range(2)]
        big = number % (cases // 8) == 1
        if number % 20 == 0 or big:
            tables["case_photo"] += _photos(case, big)
    tables["draft"] = [_draft(rid, rng) for rid in world.residents[:5000]]
    tables["outbox"].sort(key=lambda row: row["created_at"])
    tables["inbound_receipt"].sort(key=lambda row: row["received_at"])
    for name, model in TABLES.items():
        # The photos' bytes in small transactions, the rest in executemany chunks.
        await _insert(db, model, tables[name], 100 if name == "case_photo" else CHUNK)
    if not db.is_sqlite:
        async with db.engine.begin() as conn:
            sequence = "pg_get_serial_sequence('cases', 'number')"
            await conn.execute(text(f"SELECT setval({sequence}, max(number)) FROM cases"))
            await conn.execute(text("ANALYZE"))
    return {name: len(rows) for name, rows in tables.items()}


def _ms(values: list[float], p: float | None = None) -> float:
    if not values:
        return 0.0
    return (max(values) if p is None else percentile(values, p)) * 1000


def figures_of(swept: Swept, seconds: float, label: str, floor: list[float]) -> list[Figure]:
    """Per kind: rows, writes, the statement's longest run inside the writer, the p50, p99 and
    longest hold of the writer beside the floor's (an empty write, the same machine, just
    after); then the writes over the target, and the run's total."""
    found = []
    for kind, held in sorted(swept.held.items()):
        rows, longest = swept.dropped[kind], _ms(held)
        found += [
            Figure(f"{label} {kind}: rows / writes", rows, f"/ {len(held)}", digits=0),
            Figure(f"{label} {kind}: longest statement", _ms(swept.ran[kind]), "ms"),
            Figure(f"{label} {kind}: p50 write", _ms(held, 50), "ms", _ms(floor, 50)),
            Figure(f"{label} {kind}: p99 write", _ms(held, 99), "ms", _ms(floor, 99)),
            Figure(
                f"{label} {kind}: longest write",
                longest,
                "ms",
                _ms(floor),
                target=f"<= {TARGET_MS:.0f} ms",
                passed=longest <= TARGET_MS,
            ),
        ]
    over = [s for held in swept.held.values() for s in held if s * 1000 > TARGET_MS]
    found += [
        Figure(f"{label}: writes over {TARGET_MS:.0f} ms", len(over), f"/ {swept.writes}",
               sum(s * 1000 > TARGET_MS for s in floor), digits=0),
        Figure(f"{label}: total", seconds, "s", digits=2),
    ]  # fmt: skip
    return found


async def floor_of(ctx: ServiceContext, count: int) -> list[float]:
    """Seconds ``count`` empty writes take on the same writer, paced as retention's: what the
    machine itself adds to any write (the thread hop, the commit, waiting for a core)."""

    def nothing(conn: Any) -> int:
        return int(conn.execute(text("UPDATE setting SET key = key WHERE key = ''")).rowcount)

    found = []
    for _ in range(count):
        started = time.perf_counter()
        await ctx.db.write(nothing)
        found.append(time.perf_counter() - started)
        await asyncio.sleep(PAUSE)
    return found


def pressure() -> str:
    """The share of the last minute some task waited for a core (Linux PSI), when known."""
    try:
        line = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except OSError:
        return "unknown"
    return line.split()[2].removeprefix("avg60=") + " %"


async def anonymise_sample(ctx: ServiceContext, sample: int) -> tuple[list[float], int]:
    """``sample`` residents whose every case ended over a year ago, anonymised as retention
    does it (one unit of work each, its audit row with it); the seconds each held, and how many
    were refused."""
    from bot.services.data import audit
    from bot.services.data.people import anonymise_in

    cutoff = NOW - timedelta(days=365)
    query = (
        select(Case.resident_id)
        .group_by(col(Case.resident_id))
        .having(func.max(func.coalesce(col(Case.closed_at), NOW)) < cutoff)  # open: not yet
        .order_by(col(Case.resident_id))
        .limit(sample)
    )
    async with ctx.db.reading() as session:
        people = list((await session.exec(query)).all())
    held, refused = [], 0
    for person_id in people:
        started = time.perf_counter()
        try:
            async with unit_of_work(ctx) as unit:
                erased = await anonymise_in(unit, person_id)
                await audit.record(unit, kind="erase", person=erased, actor=Actor.system())
        except ServiceRefusal:
            refused += 1
            continue
        held.append(time.perf_counter() - started)
    return held, refused


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
    with tempfile.TemporaryDirectory(prefix="wolaiban-retention-") as folder:
        db = open_database(sqlite_url(Path(folder) / "retention.db"))
        try:
            yield db
        finally:
            await db.dispose()


async def main(args: argparse.Namespace) -> int:
    print(machine_note())
    clock = [NOW]
    async with database(args) as db:
        backend = "SQLite" if db.is_sqlite else "PostgreSQL"
        ctx = await prepare(db, lambda: clock[0])
        started = time.perf_counter()
        counts = await fill(db, args.cases)
        print(f"{backend}: {counts}, inserted in {time.perf_counter() - started:.1f} s", flush=True)
        heap.settle()  # as ``run`` does once it listens: the fill's objects out of the GC's way

        started = time.perf_counter()
        first = await retain(ctx, Retention())
        seconds = time.perf_counter() - started
        floor = await floor_of(ctx, first.writes)
        figures = figures_of(first, seconds, "first run", floor)
        clock[0] = NOW + timedelta(days=1)
        started = time.perf_counter()
        again = await retain(ctx, Retention())
        figures += [
            Figure("next day: rows dropped", sum(again.dropped.values()), digits=0),
            Figure("next day: total", time.perf_counter() - started, "s", digits=2),
        ]
        held, refused = await anonymise_sample(ctx, args.sample)
        figures += [
            Figure(f"reporters: {len(held)} anonymised, {refused} refused", None),
            Figure("reporters: p50 unit of work", _ms(held, 50), "ms", digits=1),
            Figure("reporters: longest unit of work", _ms(held), "ms", target="(off by default)"),
        ]
    print(f"CPU pressure (tasks waiting for a core, last minute): {pressure()}")
    misses = print_table(f"Retention on {backend}, {args.cases:,} cases", figures)
    return 1 if misses else 0


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 cases, a sample of 10")
    parser.add_argument("--cases", type=int, default=FULL_SIZE)
    parser.add_argument("--sample", type=int, default=30)
    parser.add_argument("--postgres", help="a PostgreSQL server URL (a fresh database is made)")
    args = parser.parse_args(argv)
    if args.quick:
        args.cases, args.sample = min(args.cases, 10_000), min(args.sample, 10)
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(arguments())))
