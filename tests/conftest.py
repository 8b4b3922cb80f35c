"""Shared fixtures: a migrated database (SQLite, and PostgreSQL when configured) and a clock."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.channels import BOOK
from bot.directory_file import read_directory
from bot.services.context import ServiceContext
from bot.services.directory import load_directory
from db.engine import Database, open_database
from db.migrate import upgrade

POSTGRES_URL = os.environ.get("WOLAIBAN_TEST_POSTGRES_URL")
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "changyang.yaml"
BACKENDS = [
    "sqlite",
    pytest.param(
        "postgres",
        marks=pytest.mark.skipif(
            not POSTGRES_URL, reason="set WOLAIBAN_TEST_POSTGRES_URL to run on PostgreSQL"
        ),
    ),
]


@dataclass
class Clock:
    """A clock the test moves by hand; no test sleeps."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> Clock:
    # A Wednesday, 10:00 in Beijing: inside working hours, outside quiet hours.
    return Clock(datetime(2026, 11, 25, 2, 0, tzinfo=UTC))


async def postgres_database() -> AsyncIterator[Database]:
    """A fresh schema on the test server, dropped afterwards."""
    assert POSTGRES_URL
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(POSTGRES_URL)
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    db = open_database(POSTGRES_URL, connect_args={"server_settings": {"search_path": schema}})
    try:
        yield db
    finally:
        await db.dispose()
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


@pytest.fixture(params=BACKENDS)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated, empty database on each backend."""
    if request.param == "postgres":
        async for database in postgres_database():
            await upgrade(database)
            yield database
        return
    database = open_database(f"sqlite+aiosqlite:///{tmp_path / 'wolaiban.db'}")
    await upgrade(database)
    yield database
    await database.dispose()


@pytest.fixture
def ctx(db: Database, clock: Clock) -> ServiceContext:
    """The services' context on the test database and clock."""
    return ServiceContext(channels=BOOK, db=db, clock=clock, default_language="zh")


@pytest.fixture
async def loaded(ctx: ServiceContext) -> ServiceContext:
    """The context with the example directory loaded."""
    await load_directory(ctx, read_directory(EXAMPLE))
    return ctx
