"""A database of the previous release (photos as a JSON list on the case) keeps every photo,
in order, after the upgrade; and a downgrade puts them back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from alembic import command
from sqlalchemy import text

from db import queries
from db.engine import Database, open_database
from db.migrate import alembic_config, upgrade
from sandbox.harness import postgres_schema
from tests.conftest import POSTGRES_URL

PREVIOUS = "0008"
CASE = (
    "INSERT INTO cases (number, status, community_id, category_id, location, description, photos,"
    " channel, resident_id, escalation_level, reopen_count, reminders_sent, ack_due_at,"
    " resolve_due_at, created_at, updated_at) VALUES (:n, 'assigned', 'c', 'other', '', 'd',"
    " :photos, 'telegram', 'r', 0, 0, 0, :t, :t, :t, :t)"
)
AT = datetime(2026, 12, 1, 8, 0)  # naive, as the column stores it


async def _previous_release(db: Database) -> None:
    async with db.engine.begin() as conn:
        await conn.run_sync(lambda sync: command.upgrade(alembic_config(sync), PREVIOUS))
        for number, photos in ((1, '["f-1", "f-2", "f-3"]'), (2, "[]")):
            await conn.execute(text(CASE), {"n": number, "photos": photos, "t": AT})


async def _photos_kept(db: Database) -> None:
    await upgrade(db)
    async with db.reading() as session:
        first = await queries.case_photos(session=session, number=1)
        assert [(p.position, p.file_id, p.source) for p in first] == [
            (0, "f-1", "telegram"),
            (1, "f-2", "telegram"),
            (2, "f-3", "telegram"),
        ]
        assert await queries.case_photos(session=session, number=2) == []
    async with db.engine.begin() as conn:
        await conn.run_sync(lambda sync: command.downgrade(alembic_config(sync), PREVIOUS))
        back = (await conn.execute(text("SELECT photos FROM cases WHERE number = 1"))).scalar()
    assert back in (["f-1", "f-2", "f-3"], '["f-1", "f-2", "f-3"]')


async def test_sqlite_keeps_the_photos(tmp_path: object) -> None:
    db = open_database(f"sqlite+aiosqlite:///{tmp_path}/old.db")
    try:
        await _previous_release(db)
        await _photos_kept(db)
    finally:
        await db.dispose()


@pytest.fixture
async def previous_postgres() -> AsyncIterator[Database]:
    assert POSTGRES_URL
    async with postgres_schema(POSTGRES_URL) as db:
        await _previous_release(db)
        yield db


@pytest.mark.skipif(not POSTGRES_URL, reason="set WOLAIBAN_TEST_POSTGRES_URL")
async def test_postgres_keeps_the_photos(previous_postgres: Database) -> None:
    await _photos_kept(previous_postgres)
