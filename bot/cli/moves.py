"""What ``directory check`` and ``directory load`` say of the open cases a load hands on."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bot import app
from bot.config import Settings, SettingsError
from bot.services.cases.handover import Move, plan
from core.directory import Directory
from core.texts import render
from db.schema import is_newest


def _no_database_yet(settings: Settings) -> bool:
    """True for an SQLite file that does not exist (looking must not make it)."""
    url = settings.database_url
    if not url.startswith("sqlite"):
        return False
    name = url.split("///", 1)[-1]
    return name in ("", ":memory:") or not Path(name).exists()


async def planned_moves(
    directory: Directory, settings: Settings, language: str
) -> Sequence[Move] | str:
    """The hand-on loading ``directory`` would do, read only; or why the database cannot say."""
    if _no_database_yet(settings):
        return []  # no database: no cases to move
    ctx = app.build_context(settings)
    try:
        await app.reach_database(ctx.db, language)
        if not await is_newest(ctx.db):
            return render(language, "cli.schema_old")
        async with ctx.db.reading() as session:
            return await plan(session, directory)
    except SettingsError as error:
        return str(error)
    finally:
        await ctx.db.dispose()


def moves_line(language: str, key: str, moves: Sequence[Move]) -> str:
    """One line: how many open cases move, and each one's number, holder and new holder."""
    staff = render(language, "role.staff")
    each = [
        render(
            language, "cli.directory_move", number=m.number, held=m.held_name, to=m.to_name or staff
        )
        for m in moves
    ]
    return render(language, key, count=len(moves), moves="; ".join(each))
