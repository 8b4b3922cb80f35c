"""``wolaiban run`` as a child process the tests start, kill and start again: its environment, and
a PostgreSQL database it can open by its URL alone."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from db.engine import open_database
from db.migrate import upgrade
from sandbox import child
from sandbox.harness import Emulators, run_settings, sqlite_url
from sandbox.serve import free_port
from tests.conftest import POSTGRES_URL


def run_env(database: Path, emulators: Emulators, **values: object) -> dict[str, str]:
    """The environment of a ``wolaiban run`` on a SQLite file, polling the emulator with quick
    pacing, on a port of its own; ``values`` (settings, by their lower-case names) add or
    override."""
    values = {"telegram_chat_interval": 0.1, **values}
    return child.run_env(run_settings(sqlite_url(database), emulators, port=free_port(), **values))


@asynccontextmanager
async def role_schema_url(server_url: str) -> AsyncIterator[str]:
    """A migrated database URL on the server of ``server_url`` whose connections use a schema
    of their own; the schema and its role are dropped afterwards.

    A child process takes no ``connect_args``: the URL names a role made for the test, whose
    ``search_path`` is its schema. The schema is migrated here (``run`` on PostgreSQL does not).
    """
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin_url = make_url(server_url)
    password = f" PASSWORD '{admin_url.password}'" if admin_url.password else ""
    admin = create_async_engine(server_url)
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE ROLE "{name}" LOGIN{password}'))
        await conn.execute(text(f'CREATE SCHEMA "{name}" AUTHORIZATION "{name}"'))
        await conn.execute(text(f'ALTER ROLE "{name}" SET search_path = "{name}"'))
    url = admin_url.set(username=name).render_as_string(hide_password=False)
    migrated = open_database(url)
    await upgrade(migrated)
    await migrated.dispose()
    try:
        yield url
    finally:
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
            await conn.execute(text(f'DROP ROLE "{name}"'))
        await admin.dispose()


@asynccontextmanager
async def child_database(backend: str, folder: Path) -> AsyncIterator[str]:
    """A migrated database a child process can open by URL alone: a SQLite file in ``folder``,
    or a PostgreSQL role whose search path is a schema of its own (dropped afterwards)."""
    if backend == "sqlite":
        url = sqlite_url(folder / "wolaiban.db")
        migrated = open_database(url)
        await upgrade(migrated)
        await migrated.dispose()
        yield url
        return
    assert POSTGRES_URL
    async with role_schema_url(POSTGRES_URL) as url:
        yield url
