"""Both channels at once: the real stack with the Telegram and the Twilio emulators on loopback."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from bot.channels import BOOK
from bot.config import Settings
from bot.delivery.pacing import Limits
from bot.runtime import Stack
from bot.services.context import ServiceContext
from bot.services.directory import load_directory
from db.engine import Database
from sandbox.serve import serving
from sandbox.telegram import Limits as TelegramLimits
from sandbox.telegram import TelegramEmulator
from sandbox.twilio import Reply, TwilioEmulator
from tests.e2e.directory import example_any_hour

FROM_NUMBER = "+8610690000099"
PEOPLE = (
    (2001, "王经理"),
    (2002, "郑经理"),
    (3002, "钱主管"),
    (1002, "苏兴华"),
    (4001, "李大爷"),
    (2005, "褚经理"),
)


def free_port() -> int:
    """A loopback port nobody listens on (the stack must know its public URL before it starts)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Both:
    """The stack and the two emulators."""

    stack: Stack
    telegram: TelegramEmulator
    twilio: TwilioEmulator
    ctx: ServiceContext
    public_url: str

    async def text(self, phone: str, to: str, body: str, *, sid: str | None = None) -> Reply:
        """A phone texts ``to``; returns the TwiML answer."""
        return await self.twilio.text(phone, to, body, url=f"{self.public_url}/twilio/sms", sid=sid)

    async def until(self, check: Callable[[], bool], seconds: float = 10.0) -> None:
        """Wait until ``check()`` holds."""
        async with asyncio.timeout(seconds):
            while not check():  # noqa: ASYNC110 - the emulators have no event to wait on
                await asyncio.sleep(0.02)


@asynccontextmanager
async def both_channels(db: Database, **extra: object) -> AsyncIterator[Both]:
    """Start everything on ``db`` with the example directory loaded."""
    telegram = TelegramEmulator(limits=TelegramLimits(private_interval=0.05))
    for user_id, name in PEOPLE:
        telegram.add_user(user_id, name)
    twilio = TwilioEmulator()
    ctx = ServiceContext(channels=BOOK, db=db, default_language="zh")
    await load_directory(ctx, example_any_hour())
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    async with serving(telegram.app) as telegram_url, serving(twilio.app) as twilio_url:
        values: dict[str, object] = {
            "database_url": db.url,
            "telegram_bot_token": telegram.token,
            "telegram_api_url": telegram_url,
            "twilio_account_sid": twilio.account_sid,
            "twilio_auth_token": twilio.auth_token,
            "twilio_from_number": FROM_NUMBER,
            "twilio_api_url": twilio_url,
            "public_url": public,
            "http_port": port,
            "sms_per_second": 50,
            **extra,
        }
        settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
        # Digests are tested on their own; here they would only add background traffic.
        stack = Stack(
            settings, ctx, pacing={"telegram": Limits(chat_interval=0.05)}, scheduled_digests=False
        )
        await stack.start()
        try:
            yield Both(stack, telegram, twilio, ctx, public)
        finally:
            await stack.stop()
            await twilio.settle()
