"""``wolaiban run``'s start with DIRECTORY_FILE (issue 26): a file the database holds as loaded is
not read again, which the start's log says; a changed one is loaded; a large one is parsed and
loaded by a worker process, whose problems with a bad file are told as the file's own lines."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlmodel import func, select

import bot.app
import bot.directory_file
from bot.app import load_directory_file
from bot.config import Settings
from bot.directory_file import DirectoryFileError, read_directory
from bot.services.unit.context import ServiceContext
from db.engine import open_database
from db.models import Community, Person
from sandbox import child
from sandbox.child import Process, wait_ready
from sandbox.harness import EXAMPLE, run_settings
from sandbox.serve import free_port
from tests.conftest import BACKENDS
from tests.e2e.process import child_database

LOADED = "directory {path} loaded"
UNCHANGED = "directory {path}: unchanged since its last load, not read again"


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A migrated database another process can open by its URL alone."""
    async with child_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return Path(shutil.copy(EXAMPLE, tmp_path / "directory.yaml"))


def edit(path: Path, old: str, new: str) -> None:
    path.write_text(path.read_text(encoding="utf-8").replace(old, new, 1), encoding="utf-8")


def text_of(log: Path) -> str:
    return log.read_text(encoding="utf-8", errors="replace")


async def start_once(database_url: str, path: Path, log: Path) -> str:
    """``wolaiban run`` started until it answers, then stopped; what it logged."""
    settings = run_settings(
        database_url, port=free_port(), directory_file=str(path), log_level="INFO"
    )
    process = Process(child.run_env(settings), log)
    process.start()
    try:
        await wait_ready(process)
    finally:
        process.stop()
    return text_of(log)


async def test_a_second_start_does_not_read_the_unchanged_file(
    database_url: str, path: Path, tmp_path: Path
) -> None:
    first = await start_once(database_url, path, tmp_path / "first.log")
    assert LOADED.format(path=path) in first
    assert UNCHANGED.format(path=path) not in first

    second = await start_once(database_url, path, tmp_path / "second.log")
    assert UNCHANGED.format(path=path) in second
    assert LOADED.format(path=path) not in second

    edit(path, "云湾家园社区", "云湾家园")
    third = await start_once(database_url, path, tmp_path / "third.log")
    assert LOADED.format(path=path) in third
    assert "'updated': 1" in third


@pytest.fixture
async def ctx(database_url: str) -> AsyncIterator[ServiceContext]:
    db = open_database(database_url)
    try:
        yield ServiceContext(db=db, default_language="zh")
    finally:
        await db.dispose()


def settings_for(database_url: str, path: Path) -> Settings:
    return Settings(
        _env_file=None, database_url=database_url, directory_file=str(path), log_level="WARNING"
    )


async def test_a_large_file_is_loaded_by_a_worker(
    ctx: ServiceContext, database_url: str, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bot.app, "WORKER_BYTES", 0)  # the example counts as a city's file
    directory = read_directory(EXAMPLE)

    def refuse(*_: object) -> None:
        raise AssertionError("parsed in the server's own process")

    monkeypatch.setattr(bot.directory_file, "_parse", refuse)  # the worker is a new interpreter
    await load_directory_file(settings_for(database_url, path), ctx)

    async with ctx.db.reading() as session:
        communities = (await session.exec(select(func.count()).select_from(Community))).one()
        people = (await session.exec(select(func.count()).select_from(Person))).one()
    assert (communities, people) == (len(directory.communities), len(directory.people))
    await load_directory_file(settings_for(database_url, path), ctx)  # held: no worker, no parse


async def test_a_bad_file_in_the_worker_says_its_lines(
    ctx: ServiceContext, database_url: str, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bot.app, "WORKER_BYTES", 0)
    edit(path, "role: manager", "role: boss")
    with pytest.raises(DirectoryFileError) as here:
        read_directory(path)
    with pytest.raises(DirectoryFileError) as there:
        await load_directory_file(settings_for(database_url, path), ctx)
    assert there.value.lines == here.value.lines
    assert str(there.value) == str(here.value)
