"""The single writer on both databases: a failing unit rolls back alone, callers hear only after
the commit, and a batch whose commit fails acknowledges nothing and leaves nothing behind."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import bindparam, event, func, insert
from sqlalchemy.engine import Connection
from sqlmodel import col, select

from db.engine import Database
from db.models import InboundReceipt
from db.statements import execute, execute_many

AT = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def _receipt(external_id: str) -> Any:
    def work(conn: Connection) -> int:
        row = {"source": "test", "external_id": external_id, "received_at": AT, "sender": None}
        inserted = conn.execute(insert(InboundReceipt).returning(col(InboundReceipt.id)), row)
        return int(inserted.scalar_one())

    return work


def _failing(conn: Connection) -> None:
    _receipt("doomed")(conn)
    raise ValueError("this unit fails")


async def _stored(db: Database) -> list[str]:
    async with db.reading() as session:
        query = select(col(InboundReceipt.external_id)).order_by(col(InboundReceipt.external_id))
        return list((await session.exec(query)).all())


async def test_a_failing_unit_rolls_back_alone_and_its_caller_gets_its_error(db: Database) -> None:
    assert db.writer is not None
    done = await asyncio.gather(
        db.write(_receipt("a")),
        db.write(_failing),
        db.write(_receipt("b")),
        return_exceptions=True,
    )
    assert isinstance(done[0], int)
    assert isinstance(done[2], int)
    assert isinstance(done[1], ValueError)
    assert str(done[1]) == "this unit fails"
    assert await _stored(db) == ["a", "b"]  # "doomed" went with its unit only
    assert db.writer.batches == 1  # the three arrived together: one transaction, one commit


async def test_callers_hear_only_after_the_commit(db: Database) -> None:
    answered: list[str] = []
    heard_during_batch: list[list[str]] = []

    async def call(name: str) -> None:
        await db.write(_receipt(name))
        answered.append(name)

    def peek(conn: Connection) -> int:
        # On SQLite this runs after "first" in the same batch: its caller must not have heard.
        heard_during_batch.append(list(answered))
        return int(_receipt("peek")(conn))

    await asyncio.gather(call("first"), db.write(peek))
    if db.is_sqlite:  # one batch: "first" was not answered while its batch still ran
        assert heard_during_batch == [[]]
    assert answered == ["first"]
    assert await _stored(db) == ["first", "peek"]  # and what they heard of is committed


async def test_a_failed_commit_acknowledges_nothing_and_loses_nothing_acknowledged(
    db: Database,
) -> None:
    """A crash between the batch and its commit (the commit fails): every caller of that
    batch gets the error — none was answered — and what was answered before is all there."""
    assert db.writer is not None
    answered = [await db.write(_receipt(f"before{i}")) for i in range(3)]
    assert len(answered) == 3

    target = db.writer.sync_engine or db.engine.sync_engine

    def crash(_conn: Any) -> None:
        raise RuntimeError("the disk went away")

    event.listen(target, "commit", crash)
    try:
        lost = await asyncio.gather(
            *(db.write(_receipt(f"during{i}")) for i in range(5)), return_exceptions=True
        )
    finally:
        event.remove(target, "commit", crash)
    assert all(isinstance(r, Exception) for r in lost)  # not one acknowledged
    assert await _stored(db) == ["before0", "before1", "before2"]

    # The writer goes on: the next batch commits on a fresh connection.
    await db.write(_receipt("after"))
    assert "after" in await _stored(db)


async def test_the_writer_and_the_async_unit_of_work_take_turns(db: Database) -> None:
    """Every other use case still writes through ``transaction()``; on SQLite both hold the one
    write turn, so neither waits in SQLite's busy handler and both commit."""

    async def through_session(i: int) -> None:
        async with db.transaction() as session:
            session.add(InboundReceipt(source="orm", external_id=str(i), received_at=AT))

    await asyncio.gather(
        *(db.write(_receipt(f"w{i}")) for i in range(30)),
        *(through_session(i) for i in range(30)),
    )
    async with db.reading() as session:
        count = (await session.exec(select(func.count()).select_from(InboundReceipt))).one()
    assert count == 60


@pytest.mark.parametrize("units", [1, 300])
async def test_batches_are_bounded_and_all_commit(db: Database, units: int) -> None:
    assert db.writer is not None
    await asyncio.gather(*(db.write(_receipt(f"n{i}")) for i in range(units)))
    assert len(await _stored(db)) == units


async def test_statements_on_the_bare_cursor_store_and_read_what_core_does(db: Database) -> None:
    """``execute`` (SQL compiled once, on SQLite the DBAPI cursor) writes the values Core would —
    times and JSON included — reads them back typed, and rolls back with its unit's savepoint."""
    table = InboundReceipt.__table__  # type: ignore[attr-defined]
    new = table.insert().returning(col(InboundReceipt.id), col(InboundReceipt.received_at))
    by_sender = select(InboundReceipt).where(col(InboundReceipt.sender) == bindparam("sender"))

    def work(conn: Connection) -> list[Any]:
        row = {"source": "t", "external_id": "x", "received_at": AT, "sender": "+1"}
        [(_, at)] = execute(conn, new, row)
        execute_many(conn, table.insert(), [{**row, "external_id": e} for e in ("y", "z")])
        return [at, execute(conn, by_sender, {"sender": "+1"})]

    def doomed(conn: Connection) -> None:
        execute(conn, new, {"source": "t", "external_id": "w", "received_at": AT, "sender": "+1"})
        raise ValueError("rolled back")

    at, rows = await db.write(work)
    with pytest.raises(ValueError, match="rolled back"):
        await db.write(doomed)
    assert at == AT
    assert sorted(r[2] for r in rows) == ["x", "y", "z"]
    assert await _stored(db) == ["x", "y", "z"]  # "w" went with its savepoint
    async with db.reading() as session:
        stored = (await session.exec(by_sender.params(sender="+1"))).all()
    read = [dict(zip(table.columns.keys(), r, strict=True)) for r in rows]
    assert sorted(read, key=str) == sorted((s.model_dump() for s in stored), key=str)
