"""The text search through the database's index finds exactly what the ``LIKE`` scan finds —
Chinese, digits, ``%``, ``_``, quotes, ASCII letters of either case, 1, 2 and more characters —
after inserts, edits of a description and deletes, on SQLite and PostgreSQL; and it reads the
index, not every case."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, event, insert, inspect, select, text, update
from sqlmodel import col

from db.engine import Database
from db.models import Case
from db.search import SEARCH_INDEXES, SEARCH_TABLES, like_scan, matching
from tests.db.previous_release import migrate

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
ALPHABET = "快递柜堆楼号门口的aAbB12%_\\\"' Éé\x1f"


def _text(rng: random.Random, longest: int = 12) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, longest)))


def _row(number: int, rng: random.Random) -> dict[str, object]:
    return {
        "number": number,
        "status": "assigned",
        "community_id": "jzsj-south",
        "category_id": "parcels",
        "channel": "sms",
        "resident_id": "r-1",
        "description": _text(rng),
        "location": _text(rng, 4),
        "ack_due_at": NOW,
        "resolve_due_at": NOW,
        "created_at": NOW,
        "updated_at": NOW,
    }


async def _found(db: Database, condition: object) -> set[int]:
    async with db.reading() as session:
        rows = await (await session.connection()).execute(
            select(col(Case.number)).where(condition)  # type: ignore[arg-type]
        )
        return set(rows.scalars())


async def _queries(db: Database, rng: random.Random, count: int) -> list[str]:
    """Pieces of the stored texts (so most find something) and random strings (most nothing)."""
    async with db.reading() as session:
        rows = await (await session.connection()).execute(
            select(col(Case.description), col(Case.location))
        )
        stored = [t for row in rows for t in row if t]
    found = []
    for _ in range(count):
        if stored and rng.random() < 0.7:
            whole = rng.choice(stored)
            start = rng.randrange(len(whole))
            found.append(whole[start : start + rng.randint(1, 5)])
        else:
            found.append(_text(rng, 5) or "快")
    return found


async def _same_as_the_scan(db: Database, rng: random.Random) -> None:
    dialect = db.engine.dialect.name
    for query in await _queries(db, rng, 120):
        assert await _found(db, matching(query, dialect)) == await _found(db, like_scan(query)), (
            repr(query)
        )


async def test_the_index_finds_what_the_scan_finds(db: Database) -> None:
    rng = random.Random(26)
    async with db.transaction() as session:
        conn = await session.connection()
        await conn.execute(insert(Case), [_row(n, rng) for n in range(1, 301)])
    await _same_as_the_scan(db, rng)
    async with db.transaction() as session:  # erase rewrites descriptions; retention deletes
        conn = await session.connection()
        for number in rng.sample(range(1, 301), 60):
            await conn.execute(
                update(Case).where(col(Case.number) == number).values(description=_text(rng))
            )
        await conn.execute(update(Case).where(col(Case.number) < 40).values(status="closed"))
        await conn.execute(delete(Case).where(col(Case.number).in_(rng.sample(range(1, 301), 50))))
        await conn.execute(insert(Case), [_row(n, rng) for n in range(301, 341)])
    await _same_as_the_scan(db, rng)


async def test_a_known_chinese_search(db: Database) -> None:
    rng = random.Random(1)
    rows = [_row(n, rng) for n in range(1, 5)]
    texts = ["楼下的快递堆在门口", "门口的快递", "快递柜坏了", "电梯停了"]
    for row, description in zip(rows, texts, strict=True):
        row["description"], row["location"] = description, "3号楼"
    async with db.transaction() as session:
        await (await session.connection()).execute(insert(Case), rows)
    dialect = db.engine.dialect.name
    assert await _found(db, matching("快递", dialect)) == {1, 2, 3}
    assert await _found(db, matching("的快递", dialect)) == {1, 2}
    assert await _found(db, matching("快", dialect)) == {1, 2, 3}
    assert await _found(db, matching("梯", dialect)) == {4}
    assert await _found(db, matching("3号", dialect)) == {1, 2, 3, 4}
    assert await _found(db, matching("快递堆在门口", dialect)) == {1}


async def _plan(db: Database, query: str) -> str:
    """The plan the database makes for the search of ``query``."""
    found: list[str] = []
    prefix = "EXPLAIN QUERY PLAN " if db.is_sqlite else "EXPLAIN "

    def explain(_c: Any, _cur: Any, sql: str, parameters: Any, *_: Any) -> tuple[str, Any]:
        return (prefix + sql, parameters) if sql.startswith("SELECT") else (sql, parameters)

    def read(_c: Any, cursor: Any, sql: str, *_: Any) -> None:
        if sql.startswith(prefix):
            found.extend(str(r[-1] if db.is_sqlite else r[0]) for r in cursor.fetchall())

    engine = db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", explain, retval=True)
    event.listen(engine, "after_cursor_execute", read)
    try:
        async with db.engine.begin() as conn:
            if not db.is_sqlite:  # a handful of rows: the planner would rightly scan them
                await conn.execute(text("SET LOCAL enable_seqscan = off"))
            await conn.execute(
                select(col(Case.number)).where(matching(query, db.engine.dialect.name))
            )
    finally:
        event.remove(engine, "before_cursor_execute", explain)
        event.remove(engine, "after_cursor_execute", read)
    return "\n".join(found)


async def test_search_reads_the_index_not_every_case(db: Database) -> None:
    for query in ("快递", "快", "快递柜"):
        plan = await _plan(db, query)
        if db.engine.dialect.name == "postgresql":
            assert "ix_cases_search_description" in plan, plan
            assert "Seq Scan" not in plan, plan
        else:
            assert "SCAN cases" not in plan, plan
            assert "VIRTUAL TABLE" in plan, plan


async def test_0021_indexes_the_cases_already_stored_and_its_downgrade_removes_it(
    db: Database,
) -> None:
    rng = random.Random(3)
    async with db.engine.begin() as conn:
        await migrate(conn, "0019", down=True)
    rows = [_row(n, rng) for n in range(1, 4)]
    for row, description in zip(rows, ["快递柜坏了", "路灯不亮", "快递"], strict=True):
        row["description"] = description
    async with db.transaction() as session:
        await (await session.connection()).execute(insert(Case), rows)
    dialect = db.engine.dialect.name
    async with db.engine.begin() as conn:
        await migrate(conn, "0021")
    assert await _found(db, matching("快递", dialect)) == {1, 3}
    assert await _found(db, matching("快递柜", dialect)) == {1}
    async with db.engine.begin() as conn:
        await migrate(conn, "0019", down=True)
        names = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
        indexes = await conn.run_sync(lambda sync: inspect(sync).get_indexes("cases"))
    assert not SEARCH_TABLES & set(names)
    assert not {i["name"] for i in indexes} & SEARCH_INDEXES
    assert await _found(db, like_scan("快递")) == {1, 3}  # the cases are untouched
