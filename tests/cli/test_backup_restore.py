"""``wolaiban db backup PATH`` / ``db restore PATH [--force]`` and the scheduler's daily backup
(docs/reference.md §1, §2): a copy made while cases are being opened restores consistent, with the
rows it reported; a backup that fails leaves nothing at PATH; a non-empty target (or one a ``run``
uses) is refused; an older backup's schema is brought to the newest; PostgreSQL goes through
pg_dump and pg_restore, or says how; the daily backup is made once a day by one instance, and only
the newest are kept.

The commands are called through their handlers with arguments parsed by their own parsers
(``add_db_parsers``), as ``bot.cli.main`` calls them."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import sqlite3
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bench.bulk import Mix, fill, prepare
from bot import processes
from bot.channels import BOOK
from bot.cli.backups import HANDLERS, add_db_parsers
from bot.cli.env import Env, Result
from bot.config import Settings
from bot.services.cases.report import NewReport, report
from bot.services.data.backup import CLAIM, daily_backup
from bot.services.unit.context import ServiceContext, ServiceRefusal
from db.aggregates import GroupBy, rate_counts, recount_rates
from db.backup import back_up_sqlite, check_sqlite
from db.engine import open_database
from db.migrate import alembic_config
from db.models import Setting
from db.schema import newest_revision
from sandbox.harness import sqlite_url
from tests.cli.conftest import table_contents
from tests.conftest import POSTGRES_URL, Clock

HEAD = newest_revision()
OLD = "0013"  # the release before invite hashes: a backup an operator may still hold
NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # 10:00 in Beijing, the directory's zone
SAID = re.compile(r"(\d+) cases \(the last (#\d+|-)\), (\d+) people; schema (\w+)")


def _args(*argv: str | Path) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="wolaiban db")
    add_db_parsers(parser.add_subparsers(dest="db", required=True))
    return parser.parse_args([str(a) for a in argv])


async def wolaiban_db(url: str, *argv: str | Path) -> Result:
    """``wolaiban db ARGV…`` on ``url``, in English."""
    env = Env(Settings(_env_file=None, database_url=url, default_language="en"))
    return await HANDLERS[f"db {argv[0]}"](_args(*argv), env)


def said(result: Result) -> tuple[int, str, int, str]:
    """(cases, the last, people, schema) as the command printed them."""
    found = SAID.search(result.text)
    assert found, result.text
    return int(found[1]), found[2], int(found[3]), found[4]


async def bulk(path: Path, cases: int) -> None:
    """A database at ``path``: the example directory and ``cases`` cases with their events."""
    db = open_database(sqlite_url(path))
    try:
        await prepare(db, lambda: NOW)
        await fill(db, Mix(cases=cases, closed_share=0.8), NOW)
    finally:
        await db.dispose()


async def contents(url: str) -> dict[str, list[tuple[Any, ...]]]:
    db = open_database(url)
    try:
        return await table_contents(db)
    finally:
        await db.dispose()


def integrity(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    except sqlite3.DatabaseError as error:  # too damaged even to be checked
        return str(error)
    finally:
        conn.close()


def revision(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return str(conn.execute("SELECT version_num FROM alembic_version").fetchone()[0])
    finally:
        conn.close()


# ---- backup, then restore -----------------------------------------------------------------------


async def test_a_backup_made_while_cases_are_opened_restores_consistent(tmp_path: Path) -> None:
    live, copy, fresh = tmp_path / "live.db", tmp_path / "copy.db", tmp_path / "fresh.db"
    await bulk(live, 3000)  # a dozen megabytes: the copy takes many steps
    db = open_database(sqlite_url(live))
    ctx = ServiceContext(channels=BOOK, db=db)
    opened: list[int] = []
    stop = asyncio.Event()

    async def resident() -> None:
        """Opens cases one after another, as ``run`` would, until told to stop."""
        while not stop.is_set():
            new = NewReport("jzsj-south", "parcels", f"备份时的诉求 {len(opened)}", "1号楼")
            case = await report(ctx, resident_id="r-jzsj-172", channel="sms", new=new)
            assert case.number is not None
            opened.append(case.number)

    async def opened_more(count: int) -> None:
        target = len(opened) + count
        while len(opened) < target:  # noqa: ASYNC110 - the writer has no event to wait on
            await asyncio.sleep(0.005)

    writing = asyncio.create_task(resident())
    try:
        await opened_more(3)  # cases opened before the copy began are in it
        made = await wolaiban_db(sqlite_url(live), "backup", copy)
        await opened_more(3)  # and some after it ended are not
    finally:
        stop.set()
        await writing
        await db.dispose()
    assert made.code == 0, made.text
    cases, last, people, schema = said(made)
    assert cases >= 3003
    assert (last, people, schema) == (f"#{cases}", 1023, HEAD)  # 23 listed + 1000 residents
    assert integrity(copy) == "ok"
    assert oct(copy.stat().st_mode & 0o777) == "0o600"  # residents' data: the owner's only

    restored = await wolaiban_db(sqlite_url(fresh), "restore", copy)
    assert restored.code == 0, restored.text
    assert said(restored) == said(made)
    assert "upgraded" not in restored.text
    assert integrity(fresh) == "ok"

    now, back = await contents(sqlite_url(live)), await contents(sqlite_url(fresh))
    assert len(now["cases"]) >= cases + 3
    # A snapshot: every row restored is in the live database, and each case restored has all
    # its events and messages (no transaction torn in two), the cases numbered 1..n. The rates'
    # rollup holds counters every new case adds to (its rows of today moved on in the live
    # database): restored, it must be the rollup of the cases restored, no more and no less.
    for table, rows in back.items():
        if table not in ("rate_rollup", "rate_rollup_span"):
            assert not Counter(rows) - Counter(now[table]), table
    assert await _rates_from_rollup_and_cases(sqlite_url(fresh))
    assert sorted(row[0] for row in back["cases"]) == list(range(1, cases + 1))
    kept = set(range(1, cases + 1))
    columns = await _columns(sqlite_url(fresh), "case_event", "outbox")
    for table in ("case_event", "outbox"):
        at = columns[table].index("case_number")
        assert [r for r in back[table] if r[at] in kept] == [
            r for r in now[table] if r[at] in kept
        ], table


async def _rates_from_rollup_and_cases(url: str) -> bool:
    """Whether the rates read through the rollup equal those counted case by case, in total and
    by community and by manager, at several moments (the rollup is that of the cases held)."""
    db = open_database(url)
    try:
        async with db.reading() as session:
            now = datetime.now(UTC)
            for at in (now, now + timedelta(hours=1), now + timedelta(days=30)):
                groups: tuple[GroupBy | None, ...] = (None, "community", "manager")
                for by in groups:
                    rolled = await rate_counts(session=session, now=at, by=by)
                    counted = await recount_rates(session=session, now=at, by=by)
                    assert rolled == counted, (at, by)
        return True
    finally:
        await db.dispose()


async def _columns(url: str, *tables: str) -> dict[str, list[str]]:
    db = open_database(url)
    try:
        async with db.engine.connect() as conn:
            return {
                t: list((await conn.execute(text(f'SELECT * FROM "{t}" LIMIT 0'))).keys())
                for t in tables
            }
    finally:
        await db.dispose()


async def test_a_backup_never_overwrites_a_file_not_even_the_database(tmp_path: Path) -> None:
    live = tmp_path / "live.db"
    await bulk(live, 20)
    before = await contents(sqlite_url(live))
    refused = await wolaiban_db(sqlite_url(live), "backup", live)
    assert refused.code == 1
    assert "already exists" in refused.text
    assert await contents(sqlite_url(live)) == before
    missing = await wolaiban_db(sqlite_url(live), "backup", tmp_path / "nowhere" / "copy.db")
    assert (missing.code, missing.text) == (2, f"The folder {tmp_path / 'nowhere'} does not exist.")
    nothing = await wolaiban_db(sqlite_url(tmp_path / "absent.db"), "backup", tmp_path / "c.db")
    assert nothing.code == 2
    assert not (tmp_path / "absent.db").exists()  # a backup makes no database
    assert not (tmp_path / "c.db").exists()


# ---- a backup that fails leaves nothing ---------------------------------------------------------


def spoil_an_index(path: Path) -> None:
    """Scribble over the first page of an index on ``cases``, as a failing disk would."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page = conn.execute("PRAGMA page_size").fetchone()[0]
        (root,) = conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE type = 'index' AND tbl_name = 'cases'"
            " ORDER BY name LIMIT 1"
        ).fetchone()
    finally:
        conn.close()
    with path.open("r+b") as f:
        f.seek((root - 1) * page + 8)
        f.write(b"\xff" * 256)


async def test_a_damaged_database_gives_no_backup(tmp_path: Path) -> None:
    live, out = tmp_path / "live.db", tmp_path / "out"
    await bulk(live, 500)
    spoil_an_index(live)
    assert integrity(live) != "ok"
    out.mkdir()
    refused = await wolaiban_db(sqlite_url(live), "backup", out / "copy.db")
    assert refused.code == 1
    assert refused.text.startswith("The copy failed its integrity check (")
    assert "Nothing was written to" in refused.text
    assert list(out.iterdir()) == []  # neither the file nor its half-written part


def test_a_folder_that_vanishes_mid_copy_leaves_nothing_at_path(tmp_path: Path) -> None:
    live, out = tmp_path / "live.db", tmp_path / "out"
    asyncio.run(bulk(live, 2000))
    out.mkdir()
    steps: list[int] = []

    def vanish(remaining: int, _total: int) -> None:
        steps.append(remaining)
        if len(steps) == 1:  # the part is being written: the folder goes, a new empty one comes
            assert any(p.name.endswith(".part") for p in out.iterdir())
            shutil.rmtree(out)
            out.mkdir()

    with pytest.raises((OSError, sqlite3.Error)):
        back_up_sqlite(live, out / "copy.db", head=HEAD, on_step=vanish)
    assert len(steps) > 1  # it failed after the copy went on, not before
    assert list(out.iterdir()) == []


# ---- restore ------------------------------------------------------------------------------------


async def test_restore_refuses_a_database_that_holds_anything_unless_forced(tmp_path: Path) -> None:
    source, copy, target = tmp_path / "source.db", tmp_path / "copy.db", tmp_path / "target.db"
    await bulk(source, 40)
    assert (await wolaiban_db(sqlite_url(source), "backup", copy)).code == 0
    await bulk(target, 0)  # the directory only: people, no case
    before = await contents(sqlite_url(target))

    refused = await wolaiban_db(sqlite_url(target), "restore", copy)
    assert refused.code == 1
    assert refused.text == (
        "The database already holds 0 cases and 1023 people: restore into an empty database, "
        "or add --force to replace them."
    )
    assert await contents(sqlite_url(target)) == before

    forced = await wolaiban_db(sqlite_url(target), "restore", copy, "--force")
    assert forced.code == 0, forced.text
    assert said(forced) == (40, "#40", 1023, HEAD)
    assert await contents(sqlite_url(target)) == await contents(sqlite_url(source))


async def test_a_damaged_database_is_replaced_only_when_forced(tmp_path: Path) -> None:
    source, copy, target = tmp_path / "source.db", tmp_path / "copy.db", tmp_path / "target.db"
    await bulk(source, 12)
    assert (await wolaiban_db(sqlite_url(source), "backup", copy)).code == 0
    shutil.copy(source, target)
    with target.open("r+b") as f:  # the schema's page scribbled over: nothing can be read
        f.seek(100)
        f.write(b"\xff" * 300)
    damaged = target.read_bytes()

    refused = await wolaiban_db(sqlite_url(target), "restore", copy)
    assert refused.code == 1
    assert refused.text == (
        "The database cannot be read (database disk image is malformed): add --force to "
        "replace it with the backup."
    )
    assert target.read_bytes() == damaged
    forced = await wolaiban_db(sqlite_url(target), "restore", copy, "--force")
    assert forced.code == 0, forced.text
    assert said(forced) == (12, "#12", 1023, HEAD)
    assert integrity(target) == "ok"


async def test_restore_refuses_a_database_a_run_is_using_even_forced(tmp_path: Path) -> None:
    copy, target = tmp_path / "copy.db", tmp_path / "target.db"
    await bulk(target, 3)
    assert (await wolaiban_db(sqlite_url(target), "backup", copy)).code == 0
    db = open_database(sqlite_url(target))
    try:  # the lease a sweeping ``run`` holds, by this very (living) process
        async with db.transaction() as session:
            until = (datetime.now(UTC) + timedelta(seconds=30)).isoformat()
            value = {"holder": processes.holder_id(), "until": until}
            session.add(Setting(key="lease:scheduler", value=value))
    finally:
        await db.dispose()
    refused = await wolaiban_db(sqlite_url(target), "restore", copy, "--force")
    assert refused.code == 1
    assert f"({processes.holder_id()}) is using this database" in refused.text


async def test_an_older_backup_is_upgraded_on_restore(tmp_path: Path) -> None:
    source, old, target = tmp_path / "source.db", tmp_path / "old.db", tmp_path / "target.db"
    await bulk(source, 60)
    shutil.copy(source, old)
    db = open_database(sqlite_url(old))
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(lambda sync: command.downgrade(alembic_config(sync), OLD))
    finally:
        await db.dispose()
    assert revision(old) == OLD

    restored = await wolaiban_db(sqlite_url(target), "restore", old)
    assert restored.code == 0, restored.text
    assert said(restored) == (60, "#60", 1023, HEAD)
    assert restored.text.endswith(f"The backup's schema {OLD} was upgraded to {HEAD}.")
    assert revision(target) == HEAD
    assert revision(old) == OLD  # the backup itself is never changed
    assert integrity(target) == "ok"
    assert check_sqlite(target, head=HEAD).cases == 60


async def test_restore_refuses_what_is_not_a_backup_it_can_take(tmp_path: Path) -> None:
    source, target = tmp_path / "source.db", tmp_path / "target.db"
    await bulk(source, 5)
    newer = tmp_path / "newer.db"
    shutil.copy(source, newer)
    conn = sqlite3.connect(newer)
    conn.execute("UPDATE alembic_version SET version_num = '9999'")
    conn.commit()
    conn.close()
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE notes (x)").connection.close()
    words = tmp_path / "words.txt"
    words.write_text("not a database\n", encoding="utf-8")
    cases = {
        newer: f"{newer} was made by a newer Wolaiban (schema 9999): restore it with that release.",
        other: f"{other} is not a Wolaiban database (",
        words: f"{words} is not a backup this database can take (not a SQLite database).",
        tmp_path / "none.db": f"There is no file {tmp_path / 'none.db'}.",
    }
    for path, says in cases.items():
        refused = await wolaiban_db(sqlite_url(target), "restore", path)
        assert refused.code == 1, path
        assert refused.text.startswith(says), refused.text
    assert (await contents(sqlite_url(target))) == {}  # still nothing there


# ---- PostgreSQL ---------------------------------------------------------------------------------

needs_postgres = pytest.mark.skipif(not POSTGRES_URL, reason="set WOLAIBAN_TEST_POSTGRES_URL")


@pytest.fixture
async def pg_databases() -> AsyncIterator[list[str]]:
    """Two new, empty databases on the test server (pg_dump takes a whole database); dropped
    afterwards."""
    assert POSTGRES_URL
    admin = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    names = [f"wolaiban_backup_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    async with admin.connect() as conn:
        for name in names:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        base = make_url(POSTGRES_URL)
        yield [base.set(database=n).render_as_string(hide_password=False) for n in names]
    finally:
        async with admin.connect() as conn:
            for name in names:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def _pg_with_cases(url: str, cases: int) -> None:
    db = open_database(url)
    try:
        await prepare(db, lambda: NOW)
        await fill(db, Mix(cases=cases, closed_share=0.8), NOW)
    finally:
        await db.dispose()


@needs_postgres
@pytest.mark.skipif(not shutil.which("pg_dump"), reason="no pg_dump here")
async def test_postgres_backs_up_with_pg_dump_and_restores_with_pg_restore(
    pg_databases: list[str], tmp_path: Path
) -> None:
    source, target = pg_databases
    await _pg_with_cases(source, 30)
    dump = tmp_path / "wolaiban.dump"
    made = await wolaiban_db(source, "backup", dump)
    assert made.code == 0, made.text
    assert said(made) == (30, "#30", 1023, HEAD)
    assert dump.read_bytes().startswith(b"PGDMP")

    restored = await wolaiban_db(target, "restore", dump)
    assert restored.code == 0, restored.text
    assert said(restored) == said(made)
    assert await contents(target) == await contents(source)
    again = await wolaiban_db(target, "restore", dump)
    assert again.code == 1
    assert "already holds 30 cases and 1023 people" in again.text
    forced = await wolaiban_db(target, "restore", dump, "--force")
    assert forced.code == 0, forced.text
    assert await contents(target) == await contents(source)


@needs_postgres
async def test_postgres_without_the_tools_says_what_to_run(
    pg_databases: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, target = pg_databases
    await _pg_with_cases(source, 2)
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # this machine without pg_dump and pg_restore
    dump = tmp_path / "wolaiban.dump"
    refused = await wolaiban_db(source, "backup", dump)
    assert refused.code == 1
    plain = make_url(source).set(drivername="postgresql", password=None)
    url = plain.render_as_string(hide_password=False)
    assert refused.text.splitlines()[1] == (
        f"pg_dump --format=custom --no-owner --no-privileges --dbname {url} --file {dump}"
    )
    assert not dump.exists()
    dump.write_bytes(b"PGDMP not really")
    refused = await wolaiban_db(target, "restore", dump)
    assert refused.code == 1
    assert refused.text.splitlines()[1].startswith("pg_restore --no-owner --no-privileges")


# ---- the daily backup ---------------------------------------------------------------------------


def _context(path: Path, clock: Clock) -> ServiceContext:
    return ServiceContext(channels=BOOK, db=open_database(sqlite_url(path)), clock=clock)


async def test_the_daily_backup_is_made_once_a_day_and_the_newest_are_kept(tmp_path: Path) -> None:
    live, folder = tmp_path / "live.db", tmp_path / "backups"
    await bulk(live, 10)
    folder.mkdir()
    for day in range(1, 10):  # nine older daily backups, and files that are none of them
        (folder / f"wolaiban-2026-11-0{day}.db").write_bytes(b"old")
    (folder / "notes.txt").write_text("keep me", encoding="utf-8")
    (folder / "wolaiban-latest.db").write_bytes(b"mine")
    stale, fresh = (
        folder / ".wolaiban-2026-11-01.db.x1.part",
        folder / ".wolaiban-2026-11-25.db.x2.part",
    )
    for part in (stale, fresh):
        part.write_bytes(b"half")
    os.utime(stale, (time.time() - 2 * 86_400,) * 2)
    clock = Clock(NOW)
    ctx = _context(live, clock)
    try:
        made = await daily_backup(ctx, folder=str(folder), keep=3)
        assert made == folder / "wolaiban-2026-11-25.db"
        assert check_sqlite(made, head=HEAD).cases == 10
        assert sorted(p.name for p in folder.iterdir()) == [
            fresh.name,
            "notes.txt",
            "wolaiban-2026-11-08.db",
            "wolaiban-2026-11-09.db",
            "wolaiban-2026-11-25.db",
            "wolaiban-latest.db",
        ]
        clock.advance(hours=3)
        assert await daily_backup(ctx, folder=str(folder), keep=3) is None  # made today already
        clock.advance(days=1)
        tomorrow = await daily_backup(ctx, folder=str(folder), keep=3)
        assert tomorrow == folder / "wolaiban-2026-11-26.db"
        assert not (folder / "wolaiban-2026-11-08.db").exists()
    finally:
        await ctx.db.dispose()


async def test_two_instances_make_one_daily_backup(tmp_path: Path) -> None:
    live, folder = tmp_path / "live.db", tmp_path / "backups"
    await bulk(live, 10)
    clock = Clock(NOW)
    first, second = _context(live, clock), _context(live, clock)
    try:
        made = await asyncio.gather(
            daily_backup(first, folder=str(folder), keep=7),
            daily_backup(second, folder=str(folder), keep=7),
        )
    finally:
        await first.db.dispose()
        await second.db.dispose()
    assert made.count(None) == 1
    assert [m for m in made if m is not None] == [folder / "wolaiban-2026-11-25.db"]
    assert [p.name for p in folder.iterdir()] == ["wolaiban-2026-11-25.db"]


async def test_a_failed_daily_backup_leaves_the_day_to_try_again(tmp_path: Path) -> None:
    live, folder = tmp_path / "live.db", tmp_path / "backups"
    await bulk(live, 10)
    folder.write_text("a file where the folder should be", encoding="utf-8")
    ctx = _context(live, Clock(NOW))
    try:
        with pytest.raises(ServiceRefusal) as failed:
            await daily_backup(ctx, folder=str(folder), keep=7)
        assert failed.value.reason == "backup.failed"
        assert "File exists" in failed.value.params["error"]
        async with ctx.db.reading() as session:
            claim = await session.get(Setting, CLAIM)
        assert claim is not None
        assert claim.value["done"] is False
        folder.unlink()
        made = await daily_backup(ctx, folder=str(folder), keep=7)
        assert made == folder / "wolaiban-2026-11-25.db"
    finally:
        await ctx.db.dispose()


@needs_postgres
@pytest.mark.skipif(not shutil.which("pg_dump"), reason="no pg_dump here")
async def test_two_instances_on_postgres_make_one_daily_dump(
    pg_databases: list[str], tmp_path: Path
) -> None:
    url = pg_databases[0]
    await _pg_with_cases(url, 5)
    folder, clock = tmp_path / "backups", Clock(NOW)
    first = ServiceContext(channels=BOOK, db=open_database(url), clock=clock)
    second = ServiceContext(channels=BOOK, db=open_database(url), clock=clock)
    try:
        made = await asyncio.gather(
            daily_backup(first, folder=str(folder), keep=7),
            daily_backup(second, folder=str(folder), keep=7),
        )
    finally:
        await first.db.dispose()
        await second.db.dispose()
    assert made.count(None) == 1
    assert [m for m in made if m is not None] == [folder / "wolaiban-2026-11-25.dump"]
    assert (folder / "wolaiban-2026-11-25.dump").read_bytes().startswith(b"PGDMP")
