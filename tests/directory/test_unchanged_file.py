"""A directory file the database already holds, as its last load left it, is not parsed again
(a city's file took half a minute at every start, issue 26); a changed file, a directory loaded
otherwise since, or a new schema, and it is loaded as always."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlmodel import select

import bot.directory_file
import db.schema
from bot.directory_file import load_file, read_directory
from bot.services.directory.load import LoadSummary, load_directory
from bot.services.unit.context import ServiceContext
from db.models import Community
from tests.conftest import EXAMPLE

RENAMED = ("name: {zh: 云湾家园社区, en: Yunwan Homes}", "name: 云湾家园")


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """The example directory, as an operator's own file."""
    return Path(shutil.copy(EXAMPLE, tmp_path / "directory.yaml"))


def not_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    """From here on, parsing a file fails the test."""

    def refuse(*_: object) -> None:
        raise AssertionError("the file was parsed")

    monkeypatch.setattr(bot.directory_file, "_parse", refuse)


async def yunwan(ctx: ServiceContext) -> str:
    async with ctx.db.reading() as session:
        return (await session.exec(select(Community.name_zh).where(Community.id == "yunwan"))).one()


def rename(path: Path) -> None:
    path.write_text(path.read_text(encoding="utf-8").replace(*RENAMED), encoding="utf-8")


async def test_an_unchanged_file_is_not_parsed_again(
    ctx: ServiceContext, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await load_file(ctx, path)
    assert not first.same_file
    assert first.counts["added"] > 0

    not_parsed(monkeypatch)
    second = await load_file(ctx, path)
    assert second.same_file
    assert not second.changed
    # The same file anywhere else, by the same bytes, is the same file.
    moved = Path(shutil.copy(path, path.with_name("moved.yaml")))
    assert (await load_file(ctx, moved)).same_file


async def test_a_changed_file_is_loaded(ctx: ServiceContext, path: Path) -> None:
    await load_file(ctx, path)
    rename(path)

    loaded = await load_file(ctx, path)
    assert not loaded.same_file
    assert loaded.counts["updated"] == 1
    assert await yunwan(ctx) == "云湾家园"
    assert (await load_file(ctx, path)).same_file  # and that is now the file held


async def test_a_directory_loaded_otherwise_since_makes_the_file_read_again(
    ctx: ServiceContext, path: Path, tmp_path: Path
) -> None:
    await load_file(ctx, path)
    edited = Path(shutil.copy(path, tmp_path / "edited.yaml"))
    rename(edited)
    await load_directory(ctx, read_directory(edited))  # not through load_file: no fingerprint
    assert await yunwan(ctx) == "云湾家园"

    again = await load_file(ctx, path)
    assert not again.same_file
    assert await yunwan(ctx) == "云湾家园社区"


async def test_a_new_schema_reads_the_file_again(
    ctx: ServiceContext, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await load_file(ctx, path)
    newest = db.schema.newest_revision()
    monkeypatch.setattr(db.schema, "newest_revision", lambda: f"{newest}a")  # a release later
    summary = await load_file(ctx, path)
    assert not summary.same_file
    assert not summary.changed  # the same rows: only the file's record is new
    assert (await load_file(ctx, path)).same_file


async def test_an_unreadable_file_is_still_an_error(ctx: ServiceContext, tmp_path: Path) -> None:
    with pytest.raises(bot.directory_file.DirectoryFileError) as raised:
        await load_file(ctx, tmp_path / "nope.yaml")
    assert raised.value.lines == [f"{tmp_path / 'nope.yaml'}: no such file"]


async def test_elsewhere_loads_only_a_file_not_held(ctx: ServiceContext, path: Path) -> None:
    asked: list[Path] = []

    async def elsewhere(where: Path) -> LoadSummary:
        asked.append(where)
        return await load_file(ctx, where)

    await load_file(ctx, path, elsewhere=elsewhere)
    await load_file(ctx, path, elsewhere=elsewhere)
    assert asked == [path]
