"""What the end-to-end tests and the benchmarks set up alike: the example directory, the emulators
on loopback, the settings of a run, the stack, a migrated database, and waiting for a condition.

This is the one place that builds a run's ``Settings`` and constructs a ``Stack`` for them: when
either changes in the product, this module changes and its callers do not. The product never
imports it (``tests/test_architecture.py``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.config import Settings
from bot.runtime import Stack
from bot.services.unit.context import ServiceContext
from core.directory import Directory
from core.directory_checks import validate_directory
from db.engine import Database, open_database
from db.migrate import upgrade
from sandbox.serve import free_port, serving
from sandbox.telegram import TelegramEmulator
from sandbox.twilio import TwilioEmulator
from sandbox.wecom import WeComEmulator

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "changyang.yaml"
FROM_NUMBER = "+8610690000099"
WEBHOOK_SECRET = "loopback-webhook-secret-0123"
# A Wednesday, 10:00 in Beijing: inside working hours, outside quiet hours.
MORNING = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


# ---- the example directory ----------------------------------------------------------------------


def example_data(**defaults: object) -> dict[str, Any]:
    """``examples/changyang.yaml`` as data, with ``defaults`` over its own defaults."""
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["defaults"] = {**data.get("defaults", {}), **defaults}
    return data


def example_directory(**defaults: object) -> Directory:
    """The example directory, validated, with ``defaults`` over its own defaults.

    ``quiet_hours=None`` is the one most callers want: they run on the real clock at any hour,
    and at 23:00 in Beijing routine SMS would wait for the morning."""
    directory = validate_directory(example_data(**defaults))
    if isinstance(directory, list):
        raise ValueError(f"{EXAMPLE} with {defaults}: {directory}")
    return directory


def directory_file(folder: Path, **defaults: object) -> Path:
    """The example directory with ``defaults`` over its own, written in ``folder`` (for a child
    process's ``DIRECTORY_FILE``)."""
    path = folder / "directory.yaml"
    path.write_text(yaml.safe_dump(example_data(**defaults), allow_unicode=True), encoding="utf-8")
    return path


def add_people(telegram: TelegramEmulator, directory: Directory) -> None:
    """Everyone in ``directory`` with a Telegram id opens a chat with the bot (the emulator
    refuses to send to a chat nobody opened)."""
    for person in directory.people:
        if person.telegram_id is not None:
            telegram.add_user(person.telegram_id, str(person.name), person.language or "zh")


def add_wecom_members(wecom: WeComEmulator, directory: Directory) -> None:
    """Everyone in ``directory`` with a WeCom userid is a member of the emulator's corp (it
    refuses to send to anyone else)."""
    for person in directory.people:
        userid = person.addresses.get("wecom")
        if userid is not None:
            wecom.add_member(userid)


# ---- the emulators ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Emulators:
    """The Telegram Bot API (and Twilio, WeCom, when asked for) served on loopback, with their
    URLs."""

    telegram: TelegramEmulator
    telegram_url: str
    twilio: TwilioEmulator | None = None
    twilio_url: str = ""
    wecom: WeComEmulator | None = None
    wecom_url: str = ""


@asynccontextmanager
async def serve_emulators(
    telegram: TelegramEmulator,
    twilio: TwilioEmulator | None = None,
    *,
    wecom: WeComEmulator | None = None,
) -> AsyncIterator[Emulators]:
    """Serve ``telegram`` (and ``twilio``, ``wecom``: both WeCom apps) until the block ends.

    Stop whatever talks to them inside the block: on the way out the long polls still open are
    ended (the server would wait for them) and Twilio's pending status callbacks are posted
    (delivery reports land before the servers go)."""
    async with AsyncExitStack() as servers:
        telegram_url = await servers.enter_async_context(serving(telegram.app))
        twilio_url = await servers.enter_async_context(serving(twilio.app)) if twilio else ""
        wecom_url = await servers.enter_async_context(serving(wecom.app)) if wecom else ""
        try:
            yield Emulators(telegram, telegram_url, twilio, twilio_url, wecom, wecom_url)
        finally:
            telegram.close()
            if twilio is not None:
                await twilio.settle()


# ---- the settings of a run, and its stack -------------------------------------------------------


def run_settings(
    database_url: str,
    emulators: Emulators | None = None,
    *,
    port: int | None = None,
    webhook: bool = False,
    **values: object,
) -> Settings:
    """The settings of a run on ``database_url``, pointed at ``emulators`` (Telegram by webhook
    when ``webhook``), then ``values`` (the settings' own lower-case names) over them all.

    Without ``port``, a run that is called back (a webhook, Twilio's status callbacks) gets a
    free port of its own, since its public URL must be known before it starts; others take any
    port (0)."""
    twilio = emulators.twilio if emulators is not None else None
    wecom = emulators.wecom if emulators is not None else None
    if port is None:
        port = free_port() if webhook or twilio is not None or wecom is not None else 0
    found: dict[str, Any] = {"database_url": database_url, "http_port": port}
    public = f"http://127.0.0.1:{port}"
    if port:
        found["public_url"] = public
    if webhook:
        found["telegram_webhook_url"] = f"{public}/telegram/webhook"
        found["telegram_webhook_secret"] = WEBHOOK_SECRET
    if emulators is not None:
        found["telegram_bot_token"] = emulators.telegram.token
        found["telegram_api_url"] = emulators.telegram_url
    if emulators is not None and emulators.twilio is not None:
        found["twilio_account_sid"] = emulators.twilio.account_sid
        found["twilio_auth_token"] = emulators.twilio.auth_token
        found["twilio_from_number"] = FROM_NUMBER
        found["twilio_api_url"] = emulators.twilio_url
    if emulators is not None and wecom is not None:
        found |= wecom_settings(wecom, emulators.wecom_url)
        # The emulator posts its callbacks to this run (its people write to this bot).
        wecom.bot_url = public
    found.update(values)
    # No .env file: a developer's own settings must not leak into a test or a benchmark.
    return Settings(_env_file=None, **found)


def wecom_settings(wecom: WeComEmulator, url: str) -> dict[str, Any]:
    """The settings of both WeCom apps (staff app, customer service) for ``wecom`` at ``url``."""
    return {
        "wecom_corp_id": wecom.corp_id,
        "wecom_agent_id": wecom.agent_id,
        "wecom_secret": wecom.secret,
        "wecom_token": wecom.token,
        "wecom_aes_key": wecom.aes_key,
        "wecom_api_url": url,
        "wechat_kf_secret": wecom.kf_secret,
        "wechat_kf_token": wecom.kf_token,
        "wechat_kf_aes_key": wecom.kf_aes_key,
    }


def new_stack(settings: Settings, ctx: ServiceContext) -> Stack:
    """The stack ``wolaiban run`` runs, on ``settings`` (its pacing theirs), without the digests
    at 08:30 on the real clock (they would land in the middle of a test's conversation or a
    benchmark's figures; digests are tested on their own)."""
    return Stack(settings, ctx, scheduled_digests=False, scheduled_data=False)


@asynccontextmanager
async def running_stack(
    ctx: ServiceContext, emulators: Emulators, *, webhook: bool = False, **values: Any
) -> AsyncIterator[Stack]:
    """``new_stack`` on ``run_settings(ctx.db.url, emulators, ...)``, started; stopped after."""
    stack = new_stack(run_settings(ctx.db.url, emulators, webhook=webhook, **values), ctx)
    await stack.start()
    try:
        yield stack
    finally:
        await stack.stop()


# ---- databases ----------------------------------------------------------------------------------


def sqlite_url(path: Path) -> str:
    """The DATABASE_URL of a SQLite file."""
    return f"sqlite+aiosqlite:///{path}"


async def migrated_sqlite(path: Path) -> Database:
    """A new SQLite database at ``path``, migrated to the newest schema."""
    db = open_database(sqlite_url(path))
    await upgrade(db)
    return db


@asynccontextmanager
async def postgres_schema(server_url: str, prefix: str = "t") -> AsyncIterator[Database]:
    """A new, empty schema on the server of ``server_url`` (not migrated: a test may want it
    empty), the database's search path set to it; dropped afterwards."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(server_url)
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    db = open_database(server_url, connect_args={"server_settings": {"search_path": schema}})
    try:
        yield db
    finally:
        await db.dispose()
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


# ---- waiting ------------------------------------------------------------------------------------


async def until(check: Callable[[], bool], seconds: float = 10.0, step: float = 0.02) -> None:
    """Wait until ``check()`` holds; TimeoutError when ``seconds`` pass first."""
    async with asyncio.timeout(seconds):
        while not check():  # noqa: ASYNC110 - the emulators have no event to wait on
            await asyncio.sleep(step)


async def eventually(
    check: Callable[[], Awaitable[bool]], seconds: float = 10.0, step: float = 0.02
) -> None:
    """Wait until ``await check()`` holds (for what only the database shows); TimeoutError when
    ``seconds`` pass first."""
    async with asyncio.timeout(seconds):
        while not await check():  # noqa: ASYNC110 - the database has no event either
            await asyncio.sleep(step)
