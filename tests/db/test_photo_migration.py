"""A database of the previous release (photos as a JSON list on the case) keeps every photo,
in order, after the upgrade; and a downgrade puts them back."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from db import queries
from db.engine import Database
from db.migrate import upgrade
from sandbox.harness import sqlite_url
from tests.conftest import POSTGRES_URL
from tests.db.previous_release import migrate, previous_release

PREVIOUS = "0008"
CASE = (
    "INSERT INTO cases (number, status, community_id, category_id, location, description, photos,"
    " channel, resident_id, escalation_level, reopen_count, reminders_sent, ack_due_at,"
    " resolve_due_at, created_at, updated_at) VALUES (:n, 'assigned', 'c', 'other', '', 'd',"
    " :photos, 'telegram', 'r', 0, 0, 0, :t, :t, :t, :t)"
)
AT = datetime(2026, 12, 1, 8, 0)  # naive, as the column stores it


async def _rows_of_0008(conn: AsyncConnection) -> None:
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
        await migrate(conn, PREVIOUS, down=True)
        back = (await conn.execute(text("SELECT photos FROM cases WHERE number = 1"))).scalar()
    assert back in (["f-1", "f-2", "f-3"], '["f-1", "f-2", "f-3"]')


async def test_sqlite_keeps_the_photos(tmp_path: Path) -> None:
    async with previous_release(PREVIOUS, _rows_of_0008, sqlite_url(tmp_path / "old.db")) as db:
        await _photos_kept(db)


@pytest.mark.skipif(not POSTGRES_URL, reason="set WOLAIBAN_TEST_POSTGRES_URL")
async def test_postgres_keeps_the_photos() -> None:
    async with previous_release(PREVIOUS, _rows_of_0008) as db:
        await _photos_kept(db)
