"""Both channels at once: the real stack with the Telegram and the Twilio emulators on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from bot.channels import BOOK
from bot.runtime import Stack
from bot.services.directory.load import load_directory
from bot.services.unit.context import ServiceContext
from db.engine import Database
from sandbox.harness import example_directory, running_stack, serve_emulators, until
from sandbox.telegram import Limits as TelegramLimits
from sandbox.telegram import TelegramEmulator
from sandbox.twilio import Reply, TwilioEmulator

PEOPLE = (
    (2001, "王经理"),
    (2002, "郑经理"),
    (3002, "钱主管"),
    (1002, "苏兴华"),
    (4001, "李大爷"),
    (2005, "褚经理"),
)


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
        await until(check, seconds)


@asynccontextmanager
async def both_channels(db: Database, **extra: object) -> AsyncIterator[Both]:
    """Start everything on ``db`` with the example directory loaded (no quiet hours: the tests
    run on the real clock at any hour)."""
    telegram = TelegramEmulator(limits=TelegramLimits(private_interval=0.05))
    for user_id, name in PEOPLE:
        telegram.add_user(user_id, name)
    twilio = TwilioEmulator()
    ctx = ServiceContext(channels=BOOK, db=db, default_language="zh")
    await load_directory(ctx, example_directory(quiet_hours=None))
    values: dict[str, object] = {"telegram_chat_interval": 0.05, "sms_per_second": 50, **extra}
    async with (
        serve_emulators(telegram, twilio) as emulators,
        running_stack(ctx, emulators, **values) as stack,
    ):
        yield Both(stack, telegram, twilio, ctx, f"http://127.0.0.1:{stack.port}")
