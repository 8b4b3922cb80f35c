"""Whether a database's schema is the newest, asked without loading Alembic (a tenth of a second
every command would otherwise spend before its first query).

Each migration file is named after its revision id (``0005_….py`` holds revision "0005") and ids
count up, so the newest file names the head; tests/db/test_schema.py holds both to Alembic's view.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from db.engine import Database

_VERSIONS = Path(__file__).parent / "migrations" / "versions"


def newest_revision() -> str:
    """The revision id of the newest migration file."""
    return max(path.name.split("_", 1)[0] for path in _VERSIONS.glob("[0-9]*_*.py"))


async def is_newest(db: Database) -> bool:
    """True when the database records the newest revision; False when it records another, or
    none (an empty database)."""
    try:
        async with db.reading() as session:
            found = await (await session.connection()).execute(
                text("SELECT version_num FROM alembic_version")
            )
            stored = list(found.scalars())
    except DBAPIError:  # no alembic_version table: nothing was ever migrated here
        return False
    return stored == [newest_revision()]
