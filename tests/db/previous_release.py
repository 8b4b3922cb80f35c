"""A database as an earlier release left it, for the tests that upgrade one: brought to that
release's revision and given its rows, on a SQLite file or on a PostgreSQL schema of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from alembic import command
from sqlalchemy.ext.asyncio import AsyncConnection

from db.engine import Database, open_database
from db.migrate import alembic_config
from sandbox.harness import postgres_schema
from tests.conftest import POSTGRES_URL

Rows = Callable[[AsyncConnection], Awaitable[None]]


async def migrate(conn: AsyncConnection, revision: str, *, down: bool = False) -> None:
    """Alembic's upgrade (or, ``down``, its downgrade) to ``revision``, on ``conn``."""
    step = command.downgrade if down else command.upgrade
    await conn.run_sync(lambda sync: step(alembic_config(sync), revision))


@asynccontextmanager
async def opened(url: str) -> AsyncIterator[Database]:
    """The database at ``url``, disposed of afterwards."""
    db = open_database(url)
    try:
        yield db
    finally:
        await db.dispose()


async def at_revision(db: Database, revision: str, rows: Rows) -> None:
    """Bring ``db`` to ``revision`` and write ``rows`` there, in one transaction."""
    async with db.engine.begin() as conn:
        await migrate(conn, revision)
        await rows(conn)


@asynccontextmanager
async def previous_release(
    revision: str, rows: Rows, url: str | None = None
) -> AsyncIterator[Database]:
    """A database at ``revision`` holding ``rows``: the one at ``url``, or without one a new
    schema on WOLAIBAN_TEST_POSTGRES_URL (dropped afterwards)."""
    if url is None:
        assert POSTGRES_URL
        database = postgres_schema(POSTGRES_URL)
    else:
        database = opened(url)
    async with database as db:
        await at_revision(db, revision, rows)
        yield db
