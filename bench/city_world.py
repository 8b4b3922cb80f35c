"""A district's world for ``bench/city.py`` (issue 26): the city directory (7,000 communities,
100,000 people, one district office staffing all of them), then millions of cases over five
years with their events, bulk-loaded — executemany on SQLite with the indexes, the search
triggers and the rollup rebuilt after the load; COPY on PostgreSQL, likewise.

The mix: 92 % closed and rated (five events), 2 % cancelled (three), 6 % open over the last 20
days (two or three events; their timers ahead, except ``DUE`` of them due now) — 4.8 events a case.
Descriptions are four words of ``bench.search.WORDS`` (快递 in about one case in sixteen).
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import asyncpg  # type: ignore[import-untyped]
import yaml
from sqlalchemy.engine import make_url

from bench.city_directory import city
from bench.intake_payloads import COMMUNITY_NUMBERS
from bench.search import WORDS
from bot.channels import BOOK
from bot.services.directory.load import load_directory
from bot.services.unit.context import ServiceContext
from core.directory_checks import validate_directory
from db.aggregates import rebuild
from db.engine import Database
from db.migrate import upgrade

DISTRICT = "district-office"  # staff of every community: the console's heaviest reader
COMMUNITY_STAFF = "staff-c00042"  # staff of one community: the usual reader
DUE = 1000  # open cases whose timer has run out: what the sweep claims
BATCH = 20_000  # cases per executemany / COPY (about 96,000 events with them)
YEARS = 5
CASE_COLUMNS = (
    "number",
    "status",
    "community_id",
    "category_id",
    "location",
    "building",
    "description",
    "channel",
    "resident_id",
    "manager_id",
    "escalation_level",
    "reopen_count",
    "reminders_sent",
    "rating",
    "duplicate_of",
    "followers",
    "asked_by",
    "asked_at",
    "ack_due_at",
    "resolve_due_at",
    "next_due_at",
    "created_at",
    "acknowledged_at",
    "resolved_at",
    "closed_at",
    "updated_at",
)
EVENT_COLUMNS = ("id", "case_number", "at", "kind", "actor_id", "channel", "note", "data")
Row = tuple[Any, ...]


def directory_data(communities: int, people: int) -> dict[str, Any]:
    """``bench.city_directory.city`` with a district office on every community's staff, the six
    SMS numbers ``bench.intake_payloads`` texts given to six of its communities, and the
    supervisors' phones moved off the range its senders use (+86137…)."""
    data: Any = city(communities, people)
    data["people"].append(
        {
            "id": DISTRICT,
            "name": "区网格中心",
            "role": "staff",
            "community": data["communities"][0]["id"],
            "phone": "+8613300000001",
        }
    )
    for community in data["communities"]:
        community["staff"].append(DISTRICT)
    for community, number in zip(data["communities"], COMMUNITY_NUMBERS, strict=False):
        community["sms_number"] = number
    for person in data["people"]:
        if person["role"] == "supervisor":
            person["phone"] = "+86134" + person["phone"][6:]
    return cast(dict[str, Any], data)


def write_directory(folder: Path, communities: int, people: int) -> Path:
    """The district's directory file in ``folder`` (``run`` and ``directory load`` read it)."""
    path = folder / "city.yaml"
    if not path.exists():
        text = yaml.safe_dump(directory_data(communities, people), allow_unicode=True)
        path.write_text(text, encoding="utf-8")
    return path


async def prepare(db: Database, directory: Path, now: datetime) -> list[str]:
    """The newest schema and the directory loaded; the category ids."""
    await upgrade(db)
    ctx = ServiceContext(channels=BOOK, db=db, clock=lambda: now, default_language="zh")
    data = yaml.load(directory.read_bytes(), Loader=yaml.CSafeLoader)  # noqa: ASYNC240 (once)
    checked = validate_directory(data)
    if isinstance(checked, list):
        raise SystemExit(f"{directory}: {checked[:3]}")
    await load_directory(ctx, checked)
    return [c["id"] for c in data["categories"]]


def batches(
    cases: int,
    shape: tuple[int, int],
    categories: list[str],
    now: datetime,
    stamp: Callable[[datetime], Any],
) -> Iterator[tuple[list[Row], list[Row]]]:
    """The cases and events of a directory of ``shape`` (communities, people) in ``BATCH``-sized
    lists of rows, times through ``stamp``."""
    rng = random.Random(26)
    pick, span = rng.random, YEARS * 365 * 86400.0
    communities, people = shape
    # city()'s residents are r000000… after three people per community, resident n living in
    # community n % communities: a case's reporter is one of its own community's.
    per_community = max(1, (people - 3 * communities) // communities)
    event_id, due_left = 0, DUE
    case_rows: list[Row] = []
    event_rows: list[Row] = []
    for number in range(1, cases + 1):
        index = number % communities
        cid = f"c{index:05d}"
        manager, building = f"mgr-{cid}", 1 + number % 20
        resident = f"r{(index + communities * ((number // communities) % per_community)):06d}"
        text = "".join(rng.choice(WORDS) for _ in range(4))
        draw = pick()
        acked = resolved = ended = rating = next_due = None
        if draw < 0.06:  # open: reported in the last 20 days
            status = "assigned" if draw < 0.03 else "acknowledged"
            created = now - timedelta(seconds=pick() * 20 * 86400)
            if status == "acknowledged":
                acked = created + timedelta(seconds=60 + pick() * 2400)
                acked = min(acked, now)
            if due_left:
                due_left -= 1
                next_due = now - timedelta(seconds=60 + pick() * 1800)
            else:
                next_due = now + timedelta(seconds=600 + pick() * 86400)
        else:
            created = now - timedelta(seconds=3 * 86400 + pick() * (span - 3 * 86400))
            if draw < 0.08:
                status, ended = "cancelled", created + timedelta(seconds=3600 + pick() * 72000)
            else:
                status = "closed"
                acked = created + timedelta(seconds=120 + pick() * 2280)
                resolved = acked + timedelta(seconds=3600 + pick() * 284400)
                ended = resolved + timedelta(seconds=360 + pick() * 172440)
                rating = "satisfied" if pick() < 0.7 else "basically_satisfied"
                if pick() < 0.1:
                    rating = "dissatisfied"
        ack_due, resolve_due = created + timedelta(minutes=30), created + timedelta(hours=72)
        opened = stamp(created)
        case_rows.append(
            (
                number,
                status,
                cid,
                categories[number % len(categories)],
                f"{building}号楼",
                str(building),
                text,
                "sms",
                resident,
                manager,
                0,
                0,
                0,
                rating,
                None,
                0,
                None,
                None,
                stamp(ack_due),
                stamp(resolve_due),
                stamp(next_due) if next_due else None,
                opened,
                stamp(acked) if acked else None,
                stamp(resolved) if resolved else None,
                stamp(ended) if ended else None,
                stamp(ended or acked or created),
            )
        )
        steps = [("reported", resident, opened), ("routed", None, opened)]
        if acked:
            steps.append(("acknowledged", manager, stamp(acked)))
        if resolved:
            steps.append(("resolved", manager, stamp(resolved)))
        if ended:
            steps.append(("rated" if rating else "cancelled", resident, stamp(ended)))
        for kind, actor, at in steps:
            event_id += 1
            channel = "system" if actor is None else "sms"
            event_rows.append((event_id, number, at, kind, actor, channel, "", "{}"))
        if len(case_rows) >= BATCH:
            yield case_rows, event_rows
            case_rows, event_rows = [], []
    if case_rows:
        yield case_rows, event_rows


def sqlite_stamp(moment: datetime) -> str:
    """A time as SQLAlchemy stores it on SQLite (UTC text, microseconds)."""
    return moment.isoformat(" ", "microseconds")[:26]


def load_sqlite(path: Path, rows: Iterator[tuple[list[Row], list[Row]]]) -> None:
    """Insert ``rows`` into the SQLite file at ``path``: the two tables' indexes and triggers
    dropped first and made again after (faster than keeping them row by row), the search index
    rebuilt from the table, as migration 0021 fills it."""
    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute("PRAGMA synchronous=OFF")
        con.execute("PRAGMA cache_size=-1000000")
        kept = con.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE type IN ('index', 'trigger') "
            "AND tbl_name IN ('cases', 'case_event') AND sql IS NOT NULL"
        ).fetchall()
        for kind, name, _ in kept:
            con.execute(f'DROP {kind.upper()} "{name}"')
        insert_case, insert_event = (
            f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
            for table, names in (("cases", CASE_COLUMNS), ("case_event", EVENT_COLUMNS))
        )
        con.execute("BEGIN")
        for cases, events in rows:
            con.executemany(insert_case, cases)
            con.executemany(insert_event, events)
        con.execute("COMMIT")
        for _, _, sql in sorted(kept, key=lambda k: k[0]):  # indexes, then triggers
            con.execute(sql)
        con.execute("INSERT INTO case_search(case_search) VALUES ('rebuild')")
    finally:
        con.close()


async def load_postgres(url: str, rows: Iterator[tuple[list[Row], list[Row]]]) -> None:
    """COPY ``rows`` into the PostgreSQL database at ``url``: the two tables' secondary indexes
    dropped first and made again after, foreign keys not checked row by row (the rows are made
    consistent), the sequences moved past the numbers given, the tables analysed."""
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    con = await asyncpg.connect(dsn)
    try:
        kept = await con.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN ('cases', "
            "'case_event') AND indexname NOT IN (SELECT conname FROM pg_constraint)"
        )
        for index in kept:
            await con.execute(f'DROP INDEX "{index["indexname"]}"')
        await con.execute("SET session_replication_role = replica")
        for cases, events in rows:
            await con.copy_records_to_table("cases", records=cases, columns=CASE_COLUMNS)
            await con.copy_records_to_table("case_event", records=events, columns=EVENT_COLUMNS)
        await con.execute("SET session_replication_role = DEFAULT")
        await con.execute("SET maintenance_work_mem = '1GB'")
        for index in kept:
            await con.execute(index["indexdef"])
        for table, column in (("cases", "number"), ("case_event", "id")):
            sequence = f"pg_get_serial_sequence('{table}', '{column}')"
            await con.execute(f"SELECT setval({sequence}, max({column})) FROM {table}")
        await con.execute("ANALYZE")
    finally:
        await con.close()


async def build(
    db: Database, url: str, directory: Path, cases: int, shape: tuple[int, int], now: datetime
) -> None:
    """The whole world at ``url``: schema, directory, cases and events, the rollup."""
    categories = await prepare(db, directory, now)
    if db.is_sqlite:
        rows = batches(cases, shape, categories, now, sqlite_stamp)
        await db.dispose()  # the file is written by sqlite3 alone while it loads
        load_sqlite(Path(make_url(url).database or ""), rows)
    else:
        await load_postgres(url, batches(cases, shape, categories, now, lambda m: m))
    async with db.engine.begin() as conn:
        await conn.run_sync(rebuild)
