"""Many cases, fast, for the benchmarks at scale: the newest schema with the example directory,
then cases and their events bulk-inserted through SQLAlchemy core (executemany batches, not the
ORM one by one)."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import select

from bot.channels import BOOK
from bot.services.directory.load import load_directory
from bot.services.unit.context import ServiceContext
from core.cases import Rating
from db.aggregates import rebuild
from db.engine import Database
from db.migrate import upgrade
from db.models import Case, CaseEvent, Category, Identity, Person, RoutingRule
from sandbox.harness import example_directory

BATCH = 5000


@dataclass(frozen=True, slots=True)
class Mix:
    """What to insert: ``cases`` in all; ``due`` open ones whose timer ran out at ``now``; of
    the rest, ``closed_share`` closed (rated) and the others open with a timer in the future."""

    cases: int
    due: int = 0
    closed_share: float = 0.0


async def prepare(
    db: Database, clock: Callable[[], datetime], *, directory: bool = True
) -> ServiceContext:
    """The newest schema (the real migrations) and, unless told not to, the example directory."""
    await upgrade(db)
    ctx = ServiceContext(channels=BOOK, db=db, clock=clock, default_language="zh")
    if directory:
        await load_directory(ctx, example_directory())
    return ctx


async def fill(db: Database, mix: Mix, now: datetime, *, seed: int = 7) -> Counter[str]:
    """Insert the cases of ``mix`` with their events (and 1,000 residents); counts by status.

    A closed case has its five events (reported, routed, acknowledged, resolved, rated) and its
    timestamps; an open one the events and timestamps of its status. Everything goes in with
    executemany batches, not the ORM one by one."""
    rng = random.Random(seed)
    async with db.reading() as session:
        routes = {
            r.community: r.manager_id for r in (await session.exec(select(RoutingRule))).all()
        }
        categories = list((await session.exec(select(Category.id))).all())
    communities = sorted(routes)
    residents = [f"bench-resident-{i}" for i in range(1000)]
    people = [
        {
            "id": rid,
            "name": f"居民{i}",
            "role": "resident",
            "language": "zh",
            "supervisor_id": None,
            "community_id": communities[i % len(communities)],
            "building": None,
            "active": True,
            "source": "sms",
        }
        for i, rid in enumerate(residents)
    ]
    phones = [
        {
            "person_id": rid,
            "channel": "sms",
            "address": f"+86136{i:08d}",
            "reachable": True,
            "preferred": False,
            "source": "sms",
            "updated_at": now,
        }
        for i, rid in enumerate(residents)
    ]
    statuses: Counter[str] = Counter()
    cases: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    async with db.engine.begin() as conn:
        await conn.execute(insert(Person.__table__), people)  # type: ignore[attr-defined]
        await conn.execute(insert(Identity.__table__), phones)  # type: ignore[attr-defined]
        for number in range(1, mix.cases + 1):
            case, case_events = _case(number, mix, now, rng, routes, categories, residents)
            statuses[case["status"]] += 1
            cases.append(case)
            events += case_events
            if len(cases) >= BATCH:
                await _flush(conn, cases, events)
        await _flush(conn, cases, events)
        # Bulk rows pass the rollup's hook by: the ended cases are rolled up from the table.
        await conn.run_sync(rebuild)
        if db.engine.dialect.name == "postgresql":  # numbers were given: move the sequence on
            sequence = "pg_get_serial_sequence('cases', 'number')"
            await conn.execute(text(f"SELECT setval({sequence}, max(number)) FROM cases"))
    return statuses


async def _flush(
    conn: AsyncConnection, cases: list[dict[str, Any]], events: list[dict[str, Any]]
) -> None:
    if cases:
        await conn.execute(insert(Case.__table__), cases)  # type: ignore[attr-defined]
        await conn.execute(insert(CaseEvent.__table__), events)  # type: ignore[attr-defined]
    cases.clear()
    events.clear()


def _case(
    number: int,
    mix: Mix,
    now: datetime,
    rng: random.Random,
    routes: dict[str, str],
    categories: list[str],
    residents: list[str],
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One case row and its event rows. Numbers 1..due are the due ones (spread in time)."""
    community = sorted(routes)[number % len(routes)]
    manager = routes[community]
    resident = residents[number % len(residents)]
    due = number <= mix.due
    closed = not due and rng.random() < mix.closed_share
    if due:  # reported 31-90 minutes ago, never acknowledged: the first reminder is due
        created = now - timedelta(minutes=rng.uniform(31, 90))
    elif closed:
        created = now - timedelta(days=rng.uniform(3, 365))
    else:  # open, reported in the last 25 minutes: its acknowledge deadline is ahead
        created = now - timedelta(minutes=rng.uniform(0, 25))
    ack_due, resolve_due = created + timedelta(minutes=30), created + timedelta(hours=72)
    row: dict[str, Any] = {
        "number": number,
        "status": "assigned",
        "community_id": community,
        "category_id": categories[number % len(categories)],
        "location": f"{number % 200 + 1}号楼",
        "description": f"压测诉求 {number}：楼下的快递堆在马路上，出行不便",
        "photos": [],
        "channel": "sms" if number % 2 else "telegram",
        "resident_id": resident,
        "manager_id": manager,
        "escalation_level": 0,
        "reopen_count": 0,
        "reminders_sent": 0,
        "rating": None,
        "duplicate_of": None,
        "ack_due_at": ack_due,
        "resolve_due_at": resolve_due,
        "next_due_at": ack_due,
        "created_at": created,
        "acknowledged_at": None,
        "resolved_at": None,
        "closed_at": None,
        "updated_at": created,
    }
    kinds = [("reported", resident, row["channel"], created), ("routed", None, "system", created)]
    if due:
        row["next_due_at"] = ack_due
    elif closed:
        acked = created + timedelta(minutes=rng.uniform(2, 40))
        resolved = acked + timedelta(hours=rng.uniform(1, 80))
        closed_at = resolved + timedelta(hours=rng.uniform(0.1, 48))
        rating = rng.choices(list(Rating), weights=(7, 2, 1))[0]
        row.update(
            status="closed",
            rating=rating.value,
            acknowledged_at=acked,
            resolved_at=resolved,
            closed_at=closed_at,
            next_due_at=None,
            updated_at=closed_at,
        )
        kinds += [
            ("acknowledged", manager, "telegram", acked),
            ("resolved", manager, "telegram", resolved),
            ("rated", resident, row["channel"], closed_at),
        ]
    else:
        row["next_due_at"] = ack_due + timedelta(days=rng.uniform(0, 30))
    event_rows = [
        {
            "case_number": number,
            "at": at,
            "kind": kind,
            "actor_id": actor,
            "channel": channel,
            "note": "",
            "data": {},
        }
        for kind, actor, channel, at in kinds
    ]
    return row, event_rows
