"""The claim reads the waiting rows in id order from ``ix_outbox_waiting`` (no sort of every due
row, no scan of the sent history) and a card's edits from ``ix_outbox_edits``, on both
databases; migration 0013 adds both and its downgrade takes them away again."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from alembic import command
from sqlalchemy import event, insert, inspect, text
from sqlalchemy.engine import Connection

from bot.delivery import claims
from db.engine import Database
from db.migrate import alembic_config, upgrade
from db.models import OutboxMessage

AT = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
INDEXES = {"ix_outbox_waiting", "ix_outbox_edits"}


async def _backlog(db: Database, *, sent: int, pending: int) -> None:
    """``sent`` rows of history, then ``pending`` due cards, each with an edit of a sent one."""
    table = OutboxMessage.__table__  # type: ignore[attr-defined]

    def row(key: str, status: str, edit_of: int | None = None) -> dict[str, Any]:
        return {
            "idempotency_key": key,
            "channel": "telegram",
            "address": "41",
            "template": "t",
            "params": {},
            "text": "x",
            "buttons": [],
            "photos": [],
            "status": status,
            "next_attempt_at": AT,
            "created_at": AT,
            "edit_of": edit_of,
        }

    rows = [row(f"s{n}", "sent") for n in range(sent)]
    for n in range(pending):
        rows += [row(f"p{n}", "pending"), row(f"e{n}", "pending", edit_of=1 + n)]
    async with db.engine.begin() as conn:
        await conn.execute(insert(table), rows)
        await conn.execute(text("ANALYZE"))


async def _plan(db: Database, statement: Any, params: Mapping[str, Any]) -> str:
    """The plan the database makes for ``statement`` as the claim runs it."""
    found: list[str] = []
    prefix = "EXPLAIN QUERY PLAN " if db.is_sqlite else "EXPLAIN "

    def explain(_c: Any, _cur: Any, sql: str, parameters: Any, *_: Any) -> tuple[str, Any]:
        return prefix + sql, parameters

    def read(_c: Any, cursor: Any, *_: Any) -> None:
        found.extend(str(r[-1] if db.is_sqlite else r[0]) for r in cursor.fetchall())

    engine = db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", explain, retval=True)
    event.listen(engine, "after_cursor_execute", read)
    try:
        async with db.engine.connect() as conn:
            await conn.execute(statement, dict(params))
    finally:
        event.remove(engine, "before_cursor_execute", explain)
        event.remove(engine, "after_cursor_execute", read)
    return "\n".join(found)


async def test_the_claim_reads_the_waiting_rows_in_id_order(db: Database) -> None:
    # Many waiting behind a long history: PostgreSQL's planner then likes the primary key.
    await _backlog(db, sent=3000, pending=2000)
    postgres = not db.is_sqlite
    due: dict[str, Any] = {"now": AT + timedelta(minutes=1), "limit": 50}
    due.update({"channels": ["telegram"]} if postgres else {"channel": "telegram"})
    plan = await _plan(db, claims._DUE[postgres, False], due)
    assert "ix_outbox_waiting" in plan, plan
    assert "TEMP B-TREE" not in plan, plan  # SQLite: no sort of the due rows
    assert "Sort" not in plan, plan  # PostgreSQL: likewise
    edits = await _plan(db, claims._NEWEST_EDITS, {"cards": list(range(1, 301))})
    assert "ix_outbox_edits" in edits, edits


def _indexes(sync: Connection) -> set[str]:
    return {i["name"] for i in inspect(sync).get_indexes("outbox") if i["name"]}


async def test_0013_adds_the_indexes_and_its_downgrade_removes_them(db: Database) -> None:
    async with db.engine.begin() as conn:
        await conn.run_sync(lambda sync: command.downgrade(alembic_config(sync), "0012"))
        assert not INDEXES & await conn.run_sync(_indexes)
    await upgrade(db)
    async with db.engine.connect() as conn:
        assert await conn.run_sync(_indexes) >= INDEXES
