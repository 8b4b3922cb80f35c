"""The Telegram emulator on loopback and a PTB Bot pointed at it, for the delivery tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from telegram import Bot

from sandbox.serve import serving
from sandbox.telegram import TelegramEmulator


@pytest.fixture
async def telegram() -> AsyncIterator[tuple[TelegramEmulator, Bot]]:
    emulator = TelegramEmulator()
    async with serving(emulator.app) as url:
        bot = Bot(emulator.token, base_url=f"{url}/bot")
        async with bot:
            yield emulator, bot
