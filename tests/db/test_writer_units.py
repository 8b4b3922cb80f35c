"""The writer's units on the bare driver, on both databases: each unit's savepoint keeps its
neighbours' work when it fails (first, middle, last, alone), a unit that falls back to
``Connection.execute`` is inside its savepoint too, a unit that swallows a failed statement on
PostgreSQL is not acknowledged, and PostgreSQL's lanes commit batches side by side."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import bindparam, insert, or_, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.util import await_only
from sqlmodel import col, select

from db.engine import Database
from db.models import InboundReceipt
from db.statements import execute
from db.writer import SwallowedError
from tests.conftest import POSTGRES_URL

AT = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
TABLE: Any = InboundReceipt.__table__  # type: ignore[attr-defined]
NEW = TABLE.insert().returning(col(InboundReceipt.id))
BY_SENDER_OR_ID = select(col(InboundReceipt.external_id)).where(
    or_(
        col(InboundReceipt.sender) == bindparam("who"),
        col(InboundReceipt.external_id) == bindparam("who"),
    )
)


def _row(external_id: str, sender: str | None = None) -> dict[str, Any]:
    return {"source": "t", "external_id": external_id, "received_at": AT, "sender": sender}


def _bare(external_id: str) -> Any:
    """A unit that inserts one receipt through ``execute`` (the bare driver)."""

    def work(conn: Connection) -> int:
        [(new_id,)] = execute(conn, NEW, _row(external_id))
        return int(new_id)

    return work


def _doomed(external_id: str) -> Any:
    """A unit that inserts, through both paths, then raises."""

    def work(conn: Connection) -> None:
        execute(conn, NEW, _row(external_id))
        conn.execute(insert(InboundReceipt), _row(external_id + "-core"))
        raise ValueError(external_id)

    return work


async def _stored(db: Database) -> list[str]:
    async with db.reading() as session:
        query = select(col(InboundReceipt.external_id)).order_by(col(InboundReceipt.external_id))
        return list((await session.exec(query)).all())


@pytest.mark.parametrize("where", [0, 2, 4])
async def test_a_failing_unit_anywhere_in_its_batch_rolls_back_alone(
    db: Database, where: int
) -> None:
    assert db.writer is not None
    units = [_bare(f"u{i}") for i in range(5)]
    units[where] = _doomed(f"u{where}")
    done = await asyncio.gather(*(db.write(u) for u in units), return_exceptions=True)
    assert db.writer.batches == 1  # they arrived together: one batch, one commit
    failed = [i for i, d in enumerate(done) if isinstance(d, BaseException)]
    assert failed == [where]
    assert str(done[where]) == f"u{where}"
    assert await _stored(db) == [f"u{i}" for i in range(5) if i != where]


async def test_a_failing_unit_alone_in_its_batch_rolls_back_and_the_writer_goes_on(
    db: Database,
) -> None:
    with pytest.raises(ValueError, match="lone"):
        await db.write(_doomed("lone"))
    assert await db.write(_bare("next")) > 0
    assert await _stored(db) == ["next"]


async def test_a_statement_that_fails_in_the_database_fails_its_unit_only(db: Database) -> None:
    """A duplicate key (the database refuses the row, not Python): the unit's caller gets the
    driver's error; the receipts of the others, before and after it in the batch, are kept."""
    assert db.writer is not None
    await db.write(_bare("taken"))
    done = await asyncio.gather(
        db.write(_bare("before")),
        db.write(_bare("taken")),
        db.write(_bare("after")),
        return_exceptions=True,
    )
    assert isinstance(done[1], Exception)
    assert "unique" in str(done[1]).lower() or "duplicate" in str(done[1]).lower()
    assert await _stored(db) == ["after", "before", "taken"]


async def test_units_on_the_core_fallback_commit_and_roll_back_with_their_savepoint(
    db: Database,
) -> None:
    """``Connection.execute`` inside the bare savepoint: its rows go and stay with its unit."""

    def through_core(name: str) -> Any:
        def work(conn: Connection) -> list[str]:
            conn.execute(insert(InboundReceipt), _row(name))
            # An expanding IN cannot be compiled once: it takes ``Connection.execute``.
            ids = select(col(InboundReceipt.external_id)).where(
                col(InboundReceipt.external_id).in_(bindparam("ids", expanding=True))
            )
            return [r[0] for r in execute(conn, ids, {"ids": [name, "nobody"]})]

        return work

    done = await asyncio.gather(
        db.write(through_core("core1")),
        db.write(_doomed("gone")),
        db.write(through_core("core2")),
        return_exceptions=True,
    )
    assert done[0] == ["core1"]
    assert isinstance(done[1], ValueError)
    assert done[2] == ["core2"]
    assert await _stored(db) == ["core1", "core2"]  # neither "gone" nor "gone-core"


async def test_a_parameter_used_twice_binds_the_same_value_twice(db: Database) -> None:
    """SQLite's ``?`` repeats it, PostgreSQL's ``$n`` names it once: both read the same rows."""

    def work(conn: Connection) -> list[str]:
        execute(conn, NEW, _row("x", sender="+1"))
        execute(conn, NEW, _row("+1", sender=None))
        execute(conn, NEW, _row("y", sender="+2"))
        return sorted(r[0] for r in execute(conn, BY_SENDER_OR_ID, {"who": "+1"}))

    assert await db.write(work) == ["+1", "x"]


async def test_a_unit_that_swallows_a_refused_statement(db: Database) -> None:
    """It catches the duplicate key's error and returns. SQLite goes on in the unit (its other
    row is kept); PostgreSQL has aborted the transaction, so the unit is not acknowledged —
    its caller gets ``SwallowedError`` and nothing of it is stored, its neighbours are."""
    await db.write(_bare("taken"))

    def swallowing(conn: Connection) -> str:
        execute(conn, NEW, _row("mine"))
        try:
            execute(conn, NEW, _row("taken"))
        except Exception:
            return "carried on"
        raise AssertionError("the duplicate was accepted")

    done = await asyncio.gather(
        db.write(_bare("left")),
        db.write(swallowing),
        db.write(_bare("right")),
        return_exceptions=True,
    )
    assert isinstance(done[0], int)
    assert isinstance(done[2], int)
    if db.is_sqlite:
        assert done[1] == "carried on"
        assert await _stored(db) == ["left", "mine", "right", "taken"]
    else:
        assert isinstance(done[1], SwallowedError)
        assert await _stored(db) == ["left", "right", "taken"]
    alone = await asyncio.gather(db.write(swallowing), return_exceptions=True)
    if not db.is_sqlite:  # alone in its batch: its transaction rolled back, not committed
        assert isinstance(alone[0], SwallowedError)
        assert "mine" not in await _stored(db)


async def test_postgres_lanes_commit_while_another_batch_is_still_running(db: Database) -> None:
    """A batch that waits (here: until another caller has heard) does not hold up the next
    one: on PostgreSQL another lane runs and commits it. On SQLite, one lane: in order."""
    if db.is_sqlite:
        pytest.skip("SQLite has one write lock: one batch at a time")
    heard = asyncio.Event()

    def slow(conn: Connection) -> str:
        execute(conn, NEW, _row("slow"))
        await_only(asyncio.wait_for(heard.wait(), 5))  # the event loop runs on meanwhile
        return "slow"

    async def quick() -> None:
        await asyncio.sleep(0.05)  # after "slow" has its batch
        await db.write(_bare("quick"))
        heard.set()

    slow_done, _ = await asyncio.gather(db.write(slow), quick())
    assert slow_done == "slow"
    assert await _stored(db) == ["quick", "slow"]


@pytest.mark.parametrize("idle", [0.0, 3600.0])
async def test_postgres_a_lane_idle_for_a_while_checks_its_connection(
    db: Database, idle: float
) -> None:
    """The server closed the connection of a lane that was idle (a restart, a timeout): past
    ``lane_idle`` the lane takes a pre-pinged one from the pool and the next report commits.
    A lane busy within ``lane_idle`` keeps its connection unchecked: that batch's callers get
    the error (nothing acknowledged), and the batch after it commits on a fresh one."""
    if db.is_sqlite:
        pytest.skip("SQLite has no server to close a connection")
    assert db.writer is not None
    assert POSTGRES_URL
    db.writer.lane_idle = idle

    def backend(conn: Connection) -> int:
        return int(conn.execute(text("select pg_backend_pid()")).scalar_one())

    pid = await db.write(backend)
    admin = create_async_engine(POSTGRES_URL)
    try:
        async with admin.connect() as conn:  # only that backend: the server is shared
            assert await conn.scalar(text("select pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        await admin.dispose()
    if idle:
        # Which error (asyncpg's, its SQLAlchemy adapter's) depends on when asyncpg notices
        # the closed socket: the caller hears of one, and is not told it committed.
        with pytest.raises(Exception):  # noqa: B017, PT011
            await db.write(_bare("lost"))
    assert await db.write(_bare("kept")) > 0
    assert await _stored(db) == ["kept"]
