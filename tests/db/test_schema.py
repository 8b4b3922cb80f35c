"""The quick schema check (no Alembic) agrees with Alembic: the newest file names the head, and a
database is newest exactly when Alembic says it is current."""

from __future__ import annotations

from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import text

from db.engine import Database, open_database
from db.migrate import alembic_config, head_revision, is_current
from db.schema import is_newest, newest_revision


def test_each_migration_file_is_named_after_its_revision() -> None:
    scripts = list(ScriptDirectory.from_config(alembic_config()).walk_revisions())
    assert scripts
    for script in scripts:
        assert script.path is not None
        assert Path(script.path).name.startswith(f"{script.revision}_"), script.path
    assert newest_revision() == head_revision()


async def test_newest_exactly_when_alembic_says_current(db: Database) -> None:
    assert await is_newest(db)
    assert await is_current(db)
    async with db.engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    assert not await is_newest(db)
    assert not await is_current(db)


async def test_an_empty_database_is_not_newest(tmp_path: Path) -> None:
    db = open_database(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    try:
        assert not await is_newest(db)
    finally:
        await db.dispose()
