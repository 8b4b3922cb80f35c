"""Shared fixtures: a migrated database (SQLite, and PostgreSQL when configured) and a clock."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.channels import BOOK
from bot.directory_file import read_directory
from bot.services.directory.load import load_directory
from bot.services.unit.context import ServiceContext
from db.engine import Database, open_database
from db.migrate import upgrade
from sandbox.harness import EXAMPLE, MORNING, postgres_schema, sqlite_url

POSTGRES_URL = os.environ.get("WOLAIBAN_TEST_POSTGRES_URL")
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
    return Clock(MORNING)


@pytest.fixture(params=BACKENDS)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated, empty database on each backend."""
    if request.param == "postgres":
        assert POSTGRES_URL
        async with postgres_schema(POSTGRES_URL) as database:
            await upgrade(database)
            yield database
        return
    database = open_database(sqlite_url(tmp_path / "wolaiban.db"))
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


# The files that take longest (each stays on one worker: ``--dist loadfile``), handed out first,
# longest first, so the suite does not end with one worker alone on a demo while the others idle.
LONG_FIRST = (
    "tests/services/test_rates_rollup.py",
    "tests/test_demo.py",
    "tests/directory/test_start.py",
    "tests/services/test_digest.py",
    "tests/test_demo_wecom.py",
    "tests/drills/test_duplicate_drill.py",
    "tests/services/test_clock.py",
    "tests/open311/test_paging.py",
    "tests/e2e/test_backup_drill.py",
    "tests/e2e/test_wechat_resident.py",
    "tests/e2e/test_openapi_fuzz.py",
    "tests/e2e/test_updates_pushed.py",
    "tests/drills/test_crash_drill.py",
    "tests/e2e/test_wecom_staff.py",
)
_ROOT = Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put the long files first (in ``LONG_FIRST``'s order); the rest keep theirs."""
    rank = {name: i for i, name in enumerate(LONG_FIRST)}

    def key(item: pytest.Item) -> int:
        try:
            name = item.path.resolve().relative_to(_ROOT).as_posix()
        except ValueError:
            return len(rank)
        return rank.get(name, len(rank))

    items.sort(key=key)
