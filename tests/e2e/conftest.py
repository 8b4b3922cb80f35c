"""The real stack (HTTP server, PTB, delivery) against the Telegram emulator on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest

from bot.config import Settings
from bot.delivery.pacing import Limits
from bot.directory_file import read_directory
from bot.runtime import Stack
from bot.services.context import ServiceContext
from bot.services.directory import load_directory
from db.engine import Database
from sandbox.serve import serving
from sandbox.telegram import Limits as TelegramLimits
from sandbox.telegram import Sent, TelegramEmulator
from tests.conftest import EXAMPLE

# Quick pacing so a conversation does not take seconds; the emulator enforces the same.
CHAT_INTERVAL = 0.05


@dataclass
class Running:
    """The stack, the emulator and the people of the example directory."""

    stack: Stack
    telegram: TelegramEmulator
    ctx: ServiceContext

    async def until(self, check: Callable[[], bool], seconds: float = 10.0) -> None:
        """Wait until ``check()`` holds (the bot works asynchronously)."""
        async with asyncio.timeout(seconds):
            while not check():  # noqa: ASYNC110 - the emulator has no event to wait on
                await asyncio.sleep(0.02)

    async def next_message(self, chat: int, after: int, seconds: float = 10.0) -> Sent:
        """The first message the bot sends ``chat`` beyond the ``after`` it had."""
        await self.until(lambda: len(self.telegram.inbox(chat)) > after, seconds)
        return self.telegram.inbox(chat)[after]


def settings_for(db: Database, telegram_url: str, token: str, **extra: object) -> Settings:
    values: dict[str, object] = {
        "database_url": db.url,
        "telegram_bot_token": token,
        "telegram_api_url": telegram_url,
        "http_port": 0,
        **extra,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
async def running(db: Database) -> AsyncIterator[Running]:
    emulator = TelegramEmulator(limits=TelegramLimits(private_interval=CHAT_INTERVAL))
    ctx = ServiceContext(db=db, default_language="zh")
    await load_directory(ctx, read_directory(EXAMPLE))
    for user_id, name, language in (
        (4001, "李大爷", "zh"),
        (4003, "吕先生", "zh"),
        (4005, "Anna", "en"),
        (2001, "王经理", "zh"),
        (3001, "赵主管", "zh"),
        (1001, "刘博", "zh"),
        (5001, "新用户", "zh"),
    ):
        emulator.add_user(user_id, name, language)
    async with serving(emulator.app) as url:
        settings = settings_for(db, url, emulator.token)
        stack = Stack(settings, ctx, telegram_limits=Limits(chat_interval=CHAT_INTERVAL))
        await stack.start()
        try:
            yield Running(stack, emulator, ctx)
        finally:
            await stack.stop()
