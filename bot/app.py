"""The composition root: the only place that reads settings and wires the parts together."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import multiprocessing
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.exc import DBAPIError

from bot import heap, logs
from bot.config import Settings, SettingsError
from bot.services.unit.context import ServiceContext
from core.texts import render
from db.engine import Database, open_database
from db.schema import is_newest

if TYPE_CHECKING:
    from bot.services.directory.load import LoadSummary

log = logging.getLogger("wolaiban")
# A directory file this large is parsed and loaded by a worker process: a city's (14 MB, 100,000
# people) takes ~800 MB to parse, and a server that parsed it itself would stay at ~325 MB ever
# after (CPython keeps its freed arenas); the example's few kB load here, without a second start.
WORKER_BYTES = 1_000_000


def build_context(settings: Settings) -> ServiceContext:
    """The services' context for these settings."""
    from bot.channels import REGISTRY, book_of
    from bot.services.unit.context import SenderLimits

    # Only the channels these settings run: nobody is queued a message no process would send.
    running = [adapter for adapter in REGISTRY if adapter.enabled(settings)]
    read_url = settings.database_read_url
    if read_url is not None and not settings.database_url.startswith("postgresql"):
        raise SettingsError(render(settings.default_language, "cli.replica_needs_postgres"))
    return ServiceContext(
        db=open_database(settings.database_url, read_url=read_url),
        default_language=settings.default_language,
        channels=book_of(running),
        limits=SenderLimits(
            messages=settings.resident_messages_per_hour,
            cases=settings.resident_cases_per_10_minutes,
        ),
    )


@asynccontextmanager
async def reading(ctx: ServiceContext) -> AsyncIterator[ServiceContext]:
    """``ctx`` reading from the replica (DATABASE_READ_URL) when it answers, else from the
    primary: for the reads that may lag (``stats``, ``cases list``); writes stay on the primary."""
    yield dataclasses.replace(ctx, db=await ctx.db.reads())


async def reach_database(db: Database, language: str) -> None:
    """Open one connection, or raise ``SettingsError`` naming DATABASE_URL."""
    # A missing folder is the usual mistake; catching it first also spares aiosqlite's failed
    # connect, whose worker thread may outlive the event loop and print a stray traceback.
    name = db.engine.url.database if db.is_sqlite else None
    if name and name != ":memory:" and not Path(name).parent.is_dir():
        folder = Path(name).parent
        raise SettingsError(render(language, "cli.database_folder_missing", folder=folder))
    try:
        async with db.engine.connect():
            pass
    except (DBAPIError, OSError) as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        raise SettingsError(render(language, "cli.database_unreachable", error=reason)) from None


async def prepare_database(db: Database, language: str) -> None:
    """Bring the embedded SQLite store to the newest schema; elsewhere refuse an old one."""
    await reach_database(db, language)
    if await is_newest(db):  # the usual answer, found without loading Alembic
        return
    from db.migrate import is_current, upgrade

    if db.is_sqlite:
        await upgrade(db)
    elif not await is_current(db):
        raise SettingsError(render(language, "cli.schema_old"))


def _say_unknown_years() -> None:
    """Loudly, at start: a year the working calendar does not know counts Monday to Friday."""
    from bot.services.unit.calendar import china, today, unknown_years

    for year in unknown_years(china(), today()):
        log.warning(
            "the working calendar does not know %s: working_days deadlines in it count Monday "
            "to Friday, without its public holidays or make-up working days (upgrade "
            "chinese-calendar once the State Council's notice for %s is out; "
            "`wolaiban calendar check`)",
            year,
            year,
        )


def _secrets(settings: Settings) -> list[str]:
    """The settings' secrets, which no log line may show."""
    return [
        value.get_secret_value()
        for value in (
            settings.telegram_bot_token,
            settings.telegram_webhook_secret,
            settings.twilio_auth_token,
            settings.console_secret,
            settings.metrics_token,
        )
        if value is not None
    ]


async def run(settings: Settings) -> None:
    """Run Wolaiban: database checks, the directory file, then the whole stack until stopped."""
    logs.configure(settings.log_level, _secrets(settings))
    ctx = build_context(settings)
    _say_unknown_years()
    try:
        await prepare_database(ctx.db, settings.default_language)
        if settings.directory_file:
            await load_directory_file(settings, ctx)
        await _hold_directory(ctx)
        # Imported here: PTB and twilio cost the other commands a second to start.
        from bot.runtime import Stack

        stack = Stack(settings, ctx)
        await stack.start()
        heap.settle()  # start-up's objects out of the collector's way (bot/heap.py)
        host, port = settings.http_host, stack.port
        log.info(render(settings.default_language, "cli.serving", host=host, port=port))
        try:
            await stack.wait()
        finally:
            await stack.stop()
    finally:
        await ctx.db.dispose()


async def load_directory_file(settings: Settings, ctx: ServiceContext) -> None:
    """The start's load of DIRECTORY_FILE: skipped when the database holds that very file as its
    last load left it; a large file is parsed and loaded by a worker process."""
    from bot.directory_file import load_file

    assert settings.directory_file is not None
    path = Path(settings.directory_file)
    elsewhere = _in_worker(settings) if _worth_a_worker(path, ctx) else None
    summary = await load_file(ctx, path, elsewhere=elsewhere)
    if summary.same_file:
        log.info("directory %s: unchanged since its last load, not read again", path)
    else:
        log.info("directory %s loaded: %s", path, dict(summary.counts))


def _worth_a_worker(path: Path, ctx: ServiceContext) -> bool:
    """True for a large file on a database another process can open."""
    try:
        large = path.stat().st_size >= WORKER_BYTES
    except OSError:  # the load says why it cannot read the file
        return False
    in_memory = ctx.db.is_sqlite and ctx.db.engine.url.database in (None, "", ":memory:")
    return large and not in_memory


def _in_worker(settings: Settings) -> Callable[[Path], Awaitable[LoadSummary]]:
    """A load of the directory file by a worker process, which gives all its memory back when
    it ends; a bad file's problems are raised here as they were found there."""

    async def load(path: Path) -> LoadSummary:
        from bot.services.directory.load import LoadSummary

        # spawn, not fork: this process already runs threads (aiosqlite's, the writer's).
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(1, mp_context=spawn) as pool:
            loop = asyncio.get_running_loop()
            counts, same = await loop.run_in_executor(pool, _load_in_worker, settings, str(path))
        return LoadSummary(Counter(counts), same_file=same)

    return load


def _load_in_worker(settings: Settings, path: str) -> tuple[dict[str, int], bool]:
    """In the worker process: the directory file at ``path`` loaded; what changed, counted, and
    whether it was the file held already (another process loaded it meanwhile)."""
    return asyncio.run(_load_here(settings, Path(path)))


async def _load_here(settings: Settings, path: Path) -> tuple[dict[str, int], bool]:
    from bot.directory_file import load_file

    logs.configure(settings.log_level, _secrets(settings))
    ctx = build_context(settings)
    try:
        summary = await load_file(ctx, path)
        return dict(summary.counts), summary.same_file
    finally:
        await ctx.db.dispose()


async def _hold_directory(ctx: ServiceContext) -> None:
    """Read the directory into this process's snapshot now, not on the first report (a city's
    takes seconds), and give back what reading it, and a load here, freed."""
    from db.directory_cache import directory

    async with ctx.db.reading() as session:
        await directory(session)
    heap.trim()


async def bot_username(settings: Settings) -> str:
    """The bot's username, asked of the Bot API (``getMe``)."""
    from telegram import Bot
    from telegram.error import TelegramError

    assert settings.telegram_bot_token is not None
    bot = Bot(
        settings.telegram_bot_token.get_secret_value(),
        base_url=f"{settings.telegram_api_url.rstrip('/')}/bot",
    )
    try:
        async with bot:
            return bot.username
    except TelegramError as error:
        message = render(settings.default_language, "cli.telegram_unreachable", error=error)
        raise SettingsError(message) from None
