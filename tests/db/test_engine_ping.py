"""PostgreSQL: a pooled connection the server has closed is found at checkout and replaced, so
the next use case runs (the pool's pre-ping, made one round trip in ``db/engine.py``)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from db.engine import Database
from tests.conftest import POSTGRES_URL


async def test_a_connection_the_server_closed_is_replaced_at_checkout(db: Database) -> None:
    if db.is_sqlite:
        pytest.skip("SQLite has no server to close a connection")
    assert POSTGRES_URL
    async with db.transaction() as session:
        first = await session.scalar(text("select pg_backend_pid()"))
    admin = create_async_engine(POSTGRES_URL)
    try:
        async with admin.connect() as conn:  # only that backend: the server is shared
            killed = await conn.scalar(text("select pg_terminate_backend(:pid)"), {"pid": first})
        assert killed
    finally:
        await admin.dispose()
    async with db.transaction() as session:
        again = await session.scalar(text("select pg_backend_pid()"))
    assert again != first
