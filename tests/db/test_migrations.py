"""Migrations build exactly the tables the models describe; old schemas are refused or upgraded."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlmodel import SQLModel

from bot.app import prepare_database
from bot.config import SettingsError
from db.engine import Database, open_database
from db.migrate import current_revision, head_revision, is_current
from db.search import not_search
from sandbox.harness import postgres_schema
from tests.conftest import POSTGRES_URL


async def test_migrations_match_the_models(db: Database) -> None:
    async with db.engine.connect() as conn:
        diff = await conn.run_sync(
            lambda sync: compare_metadata(
                # The search index's own tables and indexes are the migration's, no model's.
                MigrationContext.configure(sync, opts={"include_name": not_search}),
                SQLModel.metadata,
            )
        )
    assert diff == []
    assert await current_revision(db) == head_revision()


async def test_sqlite_is_upgraded_by_itself(tmp_path: Path) -> None:
    db = open_database(f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}")
    try:
        assert not await is_current(db)
        await prepare_database(db, "en")
        assert await is_current(db)
        async with db.engine.connect() as conn:
            mode = (await conn.execute(text("PRAGMA journal_mode"))).scalar()
        assert mode == "wal"
    finally:
        await db.dispose()


@pytest.mark.skipif(not POSTGRES_URL, reason="set WOLAIBAN_TEST_POSTGRES_URL")
async def test_postgres_refuses_an_old_schema_with_one_line() -> None:
    assert POSTGRES_URL
    async with postgres_schema(POSTGRES_URL) as db:
        with pytest.raises(SettingsError) as refused:
            await prepare_database(db, "en")
        assert "wolaiban db upgrade" in str(refused.value)
        assert "\n" not in str(refused.value)
        assert not await is_current(db)
