"""``wolaiban db backup PATH`` and ``db restore PATH [--force]`` (docs/reference.md §1): a checked
copy of the database made while ``run`` writes, and one put back into an empty database."""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

# Light at import: ``bot.cli.main`` builds its parser with ``add_db_parsers`` before any command
# runs (``--help`` answers at once); the handlers import the services when they run.
if TYPE_CHECKING:
    from bot.cli.env import Env, Result
    from bot.services.unit.context import ServiceRefusal
    from db.backup import Contents

# Refusals that are a bad argument (exit 2) rather than a refusal of the work (exit 1).
_USAGE = {"backup.folder_missing"}


def add_db_parsers(dbsub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``backup PATH`` and ``restore PATH [--force]`` under ``wolaiban db``."""
    made = dbsub.add_parser("backup", help="a checked copy of the database, made while run writes")
    made.add_argument("path", type=Path, metavar="PATH", help="the new file (never overwritten)")
    back = dbsub.add_parser("restore", help="a backup put into the database (an empty one)")
    back.add_argument("path", type=Path, metavar="PATH", help="the backup")
    back.add_argument(
        "--force", action="store_true", help="replace a database that holds cases or people"
    )


def _held(contents: Contents) -> dict[str, object]:
    """What a message says of a copy's contents."""
    last = f"#{contents.last_case}" if contents.last_case is not None else "-"
    return {
        "cases": contents.cases,
        "people": contents.people,
        "last": last,
        "revision": contents.revision,
        "size": f"{contents.size / 1e6:.1f} MB",
    }


def _refusal(env: Env, refusal: ServiceRefusal) -> Result:
    from bot.cli.env import NOT_FOUND, USAGE, Result

    code = USAGE if refusal.reason in _USAGE else NOT_FOUND
    return Result(code, env.say(refusal.reason, **refusal.params))


async def back_up(args: argparse.Namespace, env: Env) -> Result:
    """``wolaiban db backup PATH``."""
    from bot.cli.env import USAGE, Result
    from bot.services.data import backup
    from bot.services.unit.context import ServiceRefusal
    from db.backup import sqlite_file

    source = sqlite_file(env.settings.database_url)
    # A backup makes no database: a SQLite DATABASE_URL with nothing there is a setting's mistake.
    if source is not None and not await asyncio.to_thread(source.is_file):
        return Result(USAGE, env.say("backup.no_database", path=source))
    async with env.context() as ctx:
        try:
            contents = await backup.make_backup(ctx, path=args.path)
        except ServiceRefusal as refusal:
            return _refusal(env, refusal)
    return Result(text=env.say("backup.made", path=args.path, **_held(contents)))


async def restore(args: argparse.Namespace, env: Env) -> Result:
    """``wolaiban db restore PATH [--force]``."""
    from bot import app, processes
    from bot.cli.env import USAGE, Result
    from bot.services.data import backup
    from bot.services.unit.context import ServiceRefusal
    from db.backup import sqlite_file

    # Not ``env.context()``: on SQLite its first connection would fail on the damaged database a
    # backup is restored over (the service reads it, and with --force replaces it unread).
    target = sqlite_file(env.settings.database_url)
    if target is not None and not await asyncio.to_thread(target.parent.is_dir):
        return Result(USAGE, env.say("cli.database_folder_missing", folder=target.parent))
    ctx = app.build_context(env.settings)
    try:
        if target is None:  # PostgreSQL: a server out of reach is a setting's problem (exit 2)
            await app.reach_database(ctx.db, env.language)
        done = await backup.restore_backup(
            ctx, source=args.path, force=args.force, gone=processes.is_gone
        )
    except ServiceRefusal as refusal:
        return _refusal(env, refusal)
    finally:
        await ctx.db.dispose()
    # The size said is the backup's, the file the operator named.
    size = (await asyncio.to_thread(args.path.stat)).st_size
    held = _held(replace(done.contents, size=size))
    text = env.say("restore.done", path=args.path, **held)
    if done.upgraded_from is not None:
        text += "\n" + env.say(
            "restore.upgraded", old=done.upgraded_from, revision=held["revision"]
        )
    return Result(text=text)


HANDLERS = {"db backup": back_up, "db restore": restore}
