"""Copies of the database one can trust: SQLite copied while it is written (the online backup API,
in paced steps inside one read snapshot), checked (integrity, schema, what it holds) and put in
place atomically; PostgreSQL's ``pg_dump`` and ``pg_restore``, run in a snapshot and checked."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from db.engine import Database, open_database

# A step copies this many pages (1 MiB at SQLite's default 4 KiB page), then the copy pauses:
# the copy holds a WAL read snapshot, which never blocks the writer, and the pause leaves the
# disk and (in ``run``, where the daily backup runs in a thread) the interpreter to the intake.
STEP_PAGES = 256
STEP_PAUSE = 0.003
# The copy's thread runs this much nicer than the rest (Linux): on a busy machine the intake's
# threads get the CPU first, and the copy and its integrity check take what is left.
BACKGROUND_NICE = 10
SQLITE_MAGIC = b"SQLite format 3\x00"
PG_MAGIC = b"PGDMP"  # pg_dump's custom format
PG_DUMP_FLAGS = ("--format=custom", "--no-owner", "--no-privileges")
PG_RESTORE_FLAGS = ("--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error")


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Contents:
    """What a database (or a copy of one) holds: its cases, people, newest case number, the
    schema revision it records and its size in bytes (0 when not a file)."""

    cases: int
    people: int
    last_case: int | None
    revision: str | None
    size: int = 0


class Unusable(Exception):
    """A copy that must not be used: ``problem`` is ``damaged``, ``old_schema``,
    ``newer_schema``, ``not_wolaiban`` or ``not_a_backup``; ``detail`` says what was found."""

    def __init__(self, problem: str, detail: str = "") -> None:
        super().__init__(f"{problem}: {detail}" if detail else problem)
        self.problem, self.detail = problem, detail


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite DATABASE_URL; None for PostgreSQL or an in-memory database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def file_kind(path: Path) -> str:
    """``sqlite``, ``pg_dump`` (custom format) or ``other``, from the file's first bytes."""
    with path.open("rb") as f:
        head = f.read(len(SQLITE_MAGIC))
    if head == SQLITE_MAGIC:
        return "sqlite"
    return "pg_dump" if head.startswith(PG_MAGIC) else "other"


def known_revisions() -> frozenset[str]:
    """Every revision our migrations know (a backup recording another is from a newer release)."""
    from alembic.script import ScriptDirectory

    from db.migrate import alembic_config

    scripts = ScriptDirectory.from_config(alembic_config())
    return frozenset(script.revision for script in scripts.walk_revisions())


async def in_background(work: Callable[[], T]) -> T:
    """``work()`` in a thread of its own, at a lower CPU priority where the system allows one
    thread's priority to be lowered (Linux); the thread ends with the work, so no other work
    inherits the priority (which an unprivileged process cannot raise again)."""

    def lowered() -> T:
        if sys.platform == "linux":  # elsewhere the id below would name a process, not a thread
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)
        return work()

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="wolaiban-backup") as thread:
        return await asyncio.get_running_loop().run_in_executor(thread, lowered)


# ---- files that appear whole or not at all ----------------------------------------------------


def new_temp(target: Path) -> Path:
    """An empty file beside ``target`` (same file system, so the rename is atomic), readable by
    its owner only: a backup holds residents' personal data."""
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    return Path(name)


def discard(temp: Path) -> None:
    """Remove a temporary copy and whatever SQLite left beside it."""
    for path in (temp, *_companions(temp)):
        path.unlink(missing_ok=True)


def put_in_place(temp: Path, target: Path) -> int:
    """Make ``temp`` durable, then rename it to ``target`` in one step, and make the rename
    durable; the file's size. A SQLite target's old ``-wal`` and ``-shm`` go first: a stale WAL
    beside the new file would be replayed into it."""
    with temp.open("rb") as f:
        os.fsync(f.fileno())
    for stale in _companions(target):
        stale.unlink(missing_ok=True)
    os.replace(temp, target)
    folder = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
    return target.stat().st_size


def _companions(path: Path) -> list[Path]:
    return [path.with_name(path.name + end) for end in ("-wal", "-shm", "-journal")]


@contextlib.contextmanager
def atomic_file(target: Path) -> Iterator[Path]:
    """A temporary file to fill; renamed to ``target`` when the block ends without error, and
    removed otherwise (nothing, not even half a file, appears at ``target``)."""
    temp = new_temp(target)
    try:
        yield temp
        put_in_place(temp, target)
    finally:
        discard(temp)


# ---- SQLite -------------------------------------------------------------------------------------


def copy_sqlite(
    source: Path, target: Path, *, on_step: Callable[[int, int], None] | None = None
) -> None:
    """Copy the SQLite database ``source`` into the empty file ``target`` while others write.

    The copy runs inside one read transaction: every step sees the same snapshot, so the copy is
    consistent and never starts over (without it, SQLite restarts a backup whenever another
    connection commits, and under a steady intake it would never end). In WAL mode a reader
    blocks no writer; the steps and pauses only share the disk. ``on_step(remaining, total)``
    is called after each step. The copy is left in rollback-journal mode: one self-contained
    file."""
    src = _read_only(source)
    try:
        src.execute("BEGIN")
        src.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the snapshot starts here
        dst = sqlite3.connect(target, isolation_level=None)
        try:

            def step(_status: int, remaining: int, total: int) -> None:
                if on_step is not None:
                    on_step(remaining, total)
                time.sleep(STEP_PAUSE)

            src.backup(dst, pages=STEP_PAGES, progress=step)
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
    finally:
        src.close()  # ends the read transaction


def _read_only(path: Path) -> sqlite3.Connection:
    """A connection that never changes ``path``, nor makes a new database there when it is gone
    (a backup being restored, the live file, a copy being checked)."""
    conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=30)
    conn.isolation_level = None
    return conn


def check_sqlite(path: Path, *, head: str | None = None) -> Contents:
    """What the SQLite file holds, once ``PRAGMA integrity_check`` says ``ok`` and it records a
    schema revision (``head`` when given); ``Unusable`` otherwise."""
    conn = _read_only(path)
    try:
        try:
            found = [row[0] for row in conn.execute("PRAGMA integrity_check").fetchall()]
        except sqlite3.DatabaseError as error:  # too damaged even to be checked
            raise Unusable("damaged", str(error)) from None
        if found != ["ok"]:
            raise Unusable("damaged", "; ".join(str(f) for f in found[:3]))
        try:
            revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            cases, last = conn.execute("SELECT count(*), max(number) FROM cases").fetchone()
            (people,) = conn.execute("SELECT count(*) FROM person").fetchone()
        except sqlite3.DatabaseError as error:  # not our tables: some other database
            raise Unusable("not_wolaiban", str(error)) from None
    finally:
        conn.close()
    if revision is None:
        raise Unusable("not_wolaiban", "no schema revision")
    if head is not None and revision[0] != head:
        raise Unusable("old_schema", revision[0])
    return Contents(cases, people, last, revision[0], path.stat().st_size)


def back_up_sqlite(
    source: Path,
    target: Path,
    *,
    head: str,
    on_step: Callable[[int, int], None] | None = None,
) -> Contents:
    """Copy the live database ``source`` to ``target``: checked (integrity, schema at ``head``),
    then renamed into place; on any failure nothing is left at ``target``."""
    with atomic_file(target) as temp:
        copy_sqlite(source, temp, on_step=on_step)
        return check_sqlite(temp, head=head)


async def restore_sqlite(backup: Path, target: Path) -> tuple[Contents, Contents]:
    """Put the SQLite backup ``backup`` in place of the database file ``target`` (no connection
    may hold ``target`` open): checked, its schema brought to the newest, then renamed in.
    Returns what the backup held as found, and as restored."""
    if file_kind(backup) != "sqlite":
        raise Unusable("not_a_backup", "not a SQLite database")
    temp = new_temp(target)
    try:
        found = await in_background(lambda: _copied(backup, temp))
        if found.revision not in known_revisions():
            raise Unusable("newer_schema", str(found.revision))
        db = open_database(f"sqlite+aiosqlite:///{temp}")
        try:
            from db.migrate import upgrade

            await upgrade(db)  # nothing to do when the backup is at the newest schema already
        finally:
            await db.dispose()
        await asyncio.to_thread(_single_file, temp)
        restored = await in_background(lambda: check_sqlite(temp))
        await asyncio.to_thread(put_in_place, temp, target)
    finally:
        discard(temp)
    return found, restored


def _copied(backup: Path, temp: Path) -> Contents:
    copy_sqlite(backup, temp)
    return check_sqlite(temp)


def _single_file(path: Path) -> None:
    """Fold the WAL the upgrade wrote back into the file and leave it in rollback mode."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=DELETE")
    finally:
        conn.close()


# ---- any database -------------------------------------------------------------------------------


async def holdings(db: Database) -> Contents | None:
    """What the database at ``db`` holds now; None when it has no tables of ours yet."""
    async with db.engine.connect() as conn:
        tables = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        if not {"cases", "person"} <= tables:
            return None
        cases, last = (await conn.execute(text("SELECT count(*), max(number) FROM cases"))).one()
        people = (await conn.execute(text("SELECT count(*) FROM person"))).scalar_one()
        revision = None
        if "alembic_version" in tables:
            found = await conn.execute(text("SELECT version_num FROM alembic_version"))
            revision = found.scalar_one_or_none()
    return Contents(int(cases), int(people), last, revision)


# ---- PostgreSQL ---------------------------------------------------------------------------------


def libpq(url: str) -> tuple[str, dict[str, str]]:
    """DATABASE_URL as the PostgreSQL tools take it (``postgresql://``, no password: that goes
    in ``PGPASSWORD``, out of the process list) and the environment that carries the password."""
    parsed = make_url(url)
    query = {k: v for k, v in parsed.query.items() if k in ("sslmode", "ssl")}
    if "ssl" in query:  # asyncpg's name for libpq's sslmode
        query["sslmode"] = query.pop("ssl")
    bare = parsed.set(drivername="postgresql", password=None, query=query)
    env = {"PGPASSWORD": parsed.password} if parsed.password else {}
    return bare.render_as_string(hide_password=False), env


def pg_dump_argv(url: str, path: Path, *, snapshot: str | None = None) -> list[str]:
    """The ``pg_dump`` command line that backs ``url`` up into ``path``."""
    shot = [f"--snapshot={snapshot}"] if snapshot else []
    return ["pg_dump", *PG_DUMP_FLAGS, *shot, "--dbname", libpq(url)[0], "--file", str(path)]


def pg_restore_argv(url: str, path: Path, *, clean: bool = False) -> list[str]:
    """The ``pg_restore`` command line that restores ``path`` into ``url``."""
    drop = ["--clean", "--if-exists"] if clean else []
    return ["pg_restore", *PG_RESTORE_FLAGS, *drop, "--dbname", libpq(url)[0], str(path)]


def shown(argv: list[str]) -> str:
    """A command line as one would type it."""
    return shlex.join(argv)


async def run_tool(argv: list[str], url: str | None = None) -> tuple[int, str, str]:
    """Run a PostgreSQL tool (with the password of ``url``): its exit code, stdout, stderr."""
    env = {**os.environ, **(libpq(url)[1] if url else {})}
    child = await asyncio.create_subprocess_exec(
        *argv, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await child.communicate()
    code = child.returncode if child.returncode is not None else -1
    return code, out.decode(errors="replace"), err.decode(errors="replace").strip()


def _tool_failed(argv: list[str], code: int, err: str) -> OSError:
    last = err.splitlines()[-1] if err else f"exit {code}"
    return OSError(f"{argv[0]}: {last}")


async def dump_postgres(db: Database, target: Path, *, head: str) -> Contents:
    """``pg_dump`` of ``db`` into ``target`` in the snapshot the counts are read in (so they
    are what the file holds), the archive read back before it is renamed into place."""
    temp = new_temp(target)
    try:
        async with db.engine.connect() as conn:
            await conn.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                snapshot = (await conn.execute(text("SELECT pg_export_snapshot()"))).scalar_one()
                found = await conn.execute(text("SELECT version_num FROM alembic_version"))
                revision = found.scalar_one_or_none()
                counts = await conn.execute(text("SELECT count(*), max(number) FROM cases"))
                cases, last = counts.one()
                people = (await conn.execute(text("SELECT count(*) FROM person"))).scalar_one()
                if revision != head:
                    raise Unusable("old_schema", str(revision))
                argv = pg_dump_argv(db.url, temp, snapshot=snapshot)
                code, _, err = await run_tool(argv, db.url)  # the snapshot lives until it ends
                if code != 0:
                    raise _tool_failed(argv, code, err)
        await pg_revision(temp)  # the archive reads back, and records our schema
        size = await asyncio.to_thread(put_in_place, temp, target)
    finally:
        discard(temp)
    return Contents(int(cases), int(people), last, revision, size)


async def pg_revision(archive: Path) -> str:
    """The schema revision a pg_dump archive records (read with ``pg_restore``, which also
    reads the archive's table of contents); ``Unusable`` for a file it cannot read."""
    argv = ["pg_restore", "--data-only", "--table=alembic_version", "--file=-", str(archive)]
    code, out, err = await run_tool(argv)
    if code != 0:
        raise Unusable("not_a_backup", err.splitlines()[-1] if err else f"exit {code}")
    lines = out.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("COPY ")]
    if not starts or starts[0] + 1 >= len(lines) or lines[starts[0] + 1] == "\\.":
        raise Unusable("not_wolaiban", "no schema revision")
    return lines[starts[0] + 1].strip()


async def restore_postgres(db: Database, archive: Path, *, clean: bool) -> None:
    """``pg_restore`` of ``archive`` into ``db`` in one transaction (``clean``: our tables there
    are dropped first, in the same transaction)."""
    argv = pg_restore_argv(db.url, archive, clean=clean)
    code, _, err = await run_tool(argv, db.url)
    if code != 0:
        raise _tool_failed(argv, code, err)
