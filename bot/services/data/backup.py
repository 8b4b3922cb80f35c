"""Backups: a checked copy of the database made on request, one restored into an empty database
(its schema brought to the newest), and the scheduler's daily copy with its rotation, made by one
instance at a time (docs/reference.md §1, ``db backup`` and ``db restore``; §2, ``BACKUP_DIR``)."""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import select

from bot.services.cases.routing import local_zone
from bot.services.unit.context import ServiceContext, ServiceRefusal
from bot.services.unit.work import unit_of_work
from db import backup
from db.backup import Contents, Unusable
from db.models import Setting
from db.schema import newest_revision

log = logging.getLogger("wolaiban.backup")
# The settings row that says which instance makes today's backup, and whether it is made.
CLAIM = "backup:daily"
# How long a claim holds: an instance that dies while copying frees the day after this.
CLAIM_FOR = timedelta(hours=1)
# The daily backups' names: only files named so are ever rotated away.
DAILY = re.compile(r"^wolaiban-(\d{4}-\d{2}-\d{2})\.(db|dump)$")
PART = re.compile(r"^\.wolaiban-\d{4}-\d{2}-\d{2}\.(db|dump)\..+\.part$")
# The lease a ``run`` on SQLite holds while it sweeps the clock (scheduler/jobs.py): a restore
# under a live one is refused, even with --force.
RUN_LEASE = "lease:scheduler"


@dataclass(frozen=True, slots=True)
class Restored:
    """What a restore put in place, and the schema revision the backup had when older."""

    contents: Contents
    upgraded_from: str | None = None


# What each way of being unusable is called, making a backup and restoring one (text keys); any
# other is a plain failure with its detail.
_PROBLEMS = {
    "backup": {"damaged", "old_schema"},
    "restore": {"damaged", "newer_schema", "not_wolaiban", "not_a_backup"},
}


def _refused(error: Unusable, path: Path, doing: str) -> ServiceRefusal:
    if error.problem in _PROBLEMS[doing]:
        return ServiceRefusal(
            f"{doing}.{error.problem}", {"path": str(path), "detail": error.detail}
        )
    return _failed(error, path, doing)


def _failed(error: Exception, path: Path, doing: str) -> ServiceRefusal:
    return ServiceRefusal(
        f"{doing}.failed", {"path": str(path), "error": str(error) or repr(error)}
    )


def pg_dump_command(url: str, path: Path) -> str:
    """The ``pg_dump`` command that backs the PostgreSQL database up (no password shown)."""
    return backup.shown(backup.pg_dump_argv(url, path))


def pg_restore_command(url: str, path: Path) -> str:
    """The ``pg_restore`` command that restores a backup into an empty PostgreSQL database."""
    return backup.shown(backup.pg_restore_argv(url, path))


# ---- on request ---------------------------------------------------------------------------------


async def make_backup(ctx: ServiceContext, *, path: Path) -> Contents:
    """A checked copy of the database at ``path``, written whole or not at all; never over an
    existing file. What the copy holds."""
    taken, folder = await asyncio.to_thread(
        lambda: (path.exists() or path.is_symlink(), path.parent.is_dir())
    )
    if taken:
        raise ServiceRefusal("backup.exists", {"path": str(path)})
    if not folder:
        raise ServiceRefusal("backup.folder_missing", {"folder": str(path.parent)})
    return await _copy(ctx, path)


async def _copy(ctx: ServiceContext, path: Path) -> Contents:
    """SQLite's online copy, or pg_dump when this machine has it; refusals say why not."""
    source = backup.sqlite_file(ctx.db.url)
    head = newest_revision()
    try:
        if source is not None:
            return await backup.in_background(
                lambda: backup.back_up_sqlite(source, path, head=head)
            )
        if ctx.db.is_sqlite:
            raise OSError("an in-memory database has no file to copy")
        if shutil.which("pg_dump") is None:
            command = pg_dump_command(ctx.db.url, path)
            raise ServiceRefusal("backup.pg_dump_missing", {"command": command})
        return await backup.dump_postgres(ctx.db, path, head=head)
    except Unusable as error:
        raise _refused(error, path, "backup") from None
    except (OSError, sqlite3.Error) as error:
        raise _failed(error, path, "backup") from None


async def restore_backup(
    ctx: ServiceContext, *, source: Path, force: bool, gone: Callable[[str], bool]
) -> Restored:
    """Put the backup ``source`` in place of the database of ``ctx``: refused while that holds
    any case or person (unless ``force``) or a ``run`` uses it (``gone`` says whether a lease's
    holder is known to have died); the copy checked, its schema brought to the newest."""
    if not await asyncio.to_thread(source.is_file):
        raise ServiceRefusal("restore.no_file", {"path": str(source)})
    try:
        held = await backup.holdings(ctx.db)
    except DBAPIError as error:  # a damaged database: the very one a backup is restored over
        if not force:
            raise ServiceRefusal("restore.unreadable", {"error": _first_line(error)}) from None
        held = None
    if held is not None and (held.cases or held.people) and not force:
        raise ServiceRefusal("restore.not_empty", {"cases": held.cases, "people": held.people})
    target = backup.sqlite_file(ctx.db.url)
    try:
        if target is not None:
            if held is not None:
                await _not_in_use(ctx, gone)
            # No connection of ours may keep the old file: closing the last one checkpoints its
            # WAL, by name, into whatever file is there then.
            await ctx.db.engine.dispose()
            found, restored = await backup.restore_sqlite(source, target)
        else:
            found, restored = await _restore_postgres(ctx, source, clean=held is not None)
    except Unusable as error:
        raise _refused(error, source, "restore") from None
    except (OSError, sqlite3.Error) as error:
        raise _failed(error, source, "restore") from None
    older = found.revision if found.revision != restored.revision else None
    return Restored(restored, older)


def _first_line(error: DBAPIError) -> str:
    return str(error.orig or error).strip().splitlines()[0]


async def _not_in_use(ctx: ServiceContext, gone: Callable[[str], bool]) -> None:
    """Refuse while a ``run`` holds the scheduler's lease on this database."""
    async with ctx.db.reading() as session:
        row = await session.get(Setting, RUN_LEASE)
    value = row.value if row is not None and isinstance(row.value, dict) else {}
    holder, until = str(value.get("holder", "")), value.get("until")
    if holder and until and datetime.fromisoformat(until) > ctx.clock() and not gone(holder):
        raise ServiceRefusal("restore.in_use", {"holder": holder})


async def _restore_postgres(
    ctx: ServiceContext, source: Path, *, clean: bool
) -> tuple[Contents, Contents]:
    """pg_restore into the database (our tables there replaced in the same transaction), then
    the migrations up to the newest."""
    if backup.file_kind(source) != "pg_dump":
        raise Unusable("not_a_backup", "not a pg_dump archive (custom format)")
    if shutil.which("pg_restore") is None:
        command = pg_restore_command(ctx.db.url, source)
        raise ServiceRefusal("restore.pg_restore_missing", {"command": command})
    revision = await backup.pg_revision(source)
    if revision not in backup.known_revisions():
        raise Unusable("newer_schema", revision)
    await backup.restore_postgres(ctx.db, source, clean=clean)
    from db.migrate import upgrade

    await upgrade(ctx.db)
    restored = await backup.holdings(ctx.db)
    assert restored is not None  # pg_restore made the tables or failed
    return Contents(0, 0, None, revision), restored


# ---- every day ----------------------------------------------------------------------------------


async def daily_backup(ctx: ServiceContext, *, folder: str, keep: int) -> Path | None:
    """Today's backup in ``folder`` (``wolaiban-YYYY-MM-DD.db``, ``.dump`` on PostgreSQL, the
    directory's local date), then only the newest ``keep`` kept. None when today's is made
    already, another instance is making it, or PostgreSQL has no pg_dump here. A failure is
    raised as a ``ServiceRefusal`` (``backup.*``) and the day stays free: the next run tries
    again."""
    today = ctx.clock().astimezone(await local_zone(ctx)).date().isoformat()
    holder = uuid.uuid4().hex
    if not await _claim(ctx, today, holder):
        return None
    where = Path(folder)
    target = where / f"wolaiban-{today}.{'db' if ctx.db.is_sqlite else 'dump'}"
    if not ctx.db.is_sqlite and shutil.which("pg_dump") is None:
        log.warning("BACKUP_DIR is set but this machine has no pg_dump: no daily backup")
        await _finish(ctx, holder, done=True)  # said once a day, not at every try
        return None
    started = time.monotonic()
    try:
        try:
            await asyncio.to_thread(where.mkdir, parents=True, exist_ok=True)
        except OSError as error:
            raise _failed(error, target, "backup") from None
        contents = await _copy(ctx, target)
    except Exception:
        await _finish(ctx, holder, done=False)
        raise
    await _finish(ctx, holder, done=True, file=target.name)
    removed = await asyncio.to_thread(rotate, where, keep)
    log.info(
        "daily backup %s: %d cases, %d people, %.1f MB in %.1f s; %d old one(s) removed",
        target,
        contents.cases,
        contents.people,
        contents.size / 1e6,
        time.monotonic() - started,
        len(removed),
    )
    return target


async def _claim(ctx: ServiceContext, day: str, holder: str) -> bool:
    """Take today's backup for ``holder``: False when it is made already, or another instance's
    claim still holds (the row is locked while read: two instances cannot both take it)."""
    try:
        async with unit_of_work(ctx) as unit:
            query = select(Setting).where(Setting.key == CLAIM).with_for_update()
            row = (await unit.session.exec(query)).first()
            value = row.value if row is not None and isinstance(row.value, dict) else {}
            if value.get("day") == day and value.get("done"):
                return False
            if value.get("until") and datetime.fromisoformat(value["until"]) > unit.now:
                return False
            until = (unit.now + CLAIM_FOR).isoformat()
            row = row if row is not None else Setting(key=CLAIM)
            row.value = {"day": day, "holder": holder, "until": until, "done": False}
            unit.session.add(row)
            return True
    except IntegrityError:  # another instance wrote the first claim at the same moment
        return False


async def _finish(ctx: ServiceContext, holder: str, *, done: bool, file: str | None = None) -> None:
    """Let the claim go: the day is done, or free to be tried again."""
    async with unit_of_work(ctx) as unit:
        row = await unit.session.get(Setting, CLAIM, with_for_update=True)
        if row is None or not isinstance(row.value, dict) or row.value.get("holder") != holder:
            return  # ours ran out and another instance took the day over
        row.value = {**row.value, "until": unit.now.isoformat(), "done": done, "file": file}
        unit.session.add(row)


def rotate(folder: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` daily backups in ``folder`` (files named as they are,
    nothing else), and what a killed copy left half-written there a day ago or more."""
    dated = [(found.group(1), p) for p in folder.iterdir() if (found := DAILY.match(p.name))]
    old = [path for _, path in sorted(dated, reverse=True)[keep:]]
    stale = time.time() - 86_400
    old += [p for p in folder.iterdir() if PART.match(p.name) and p.stat().st_mtime < stale]
    for path in old:
        path.unlink(missing_ok=True)
    return old
