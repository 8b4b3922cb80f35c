"""The real stack (HTTP server, PTB, delivery) against the Telegram emulator on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from sqlmodel import col, select

from bot.channels import BOOK
from bot.config import Settings
from bot.directory_file import read_directory
from bot.runtime import Stack
from bot.services.directory.load import load_directory
from bot.services.unit.context import ServiceContext
from db import queries
from db.engine import Database
from db.models import Case, CaseEvent, Draft, Identity, OutboxMessage, Person
from db.queries import case_photos
from sandbox.harness import EXAMPLE, eventually, new_stack, run_settings, serve_emulators, until
from sandbox.telegram import Limits as TelegramLimits
from sandbox.telegram import Sent, TelegramEmulator

# Quick pacing so a conversation does not take seconds. The emulator enforces nearly the same:
# a little slack, as the time a request takes on the way varies, and a 429 costs a second.
CHAT_INTERVAL = 0.05
ENFORCED_INTERVAL = 0.8 * CHAT_INTERVAL

# Telegram ids of the example directory (examples/changyang.yaml) and of a stranger.
STAFF = 1001  # liubo, staff of jzsj-south
MANAGER = 2001  # mgr-jzsj-south
OTHER_MANAGER = 2002  # mgr-bgy-north
SUPERVISOR = 3001  # sup-jzsj-south
RESIDENT = 4001  # r-jzsj-172, jzsj-south building 172, zh
YUANXIANG = 4003  # r-yuanxiang-5, whose manager has no Telegram
ANNA = 4005  # r-yunwan-en, English
STRANGER = 5001  # in no directory: a resident met on Telegram


@dataclass
class Running:
    """The stack, the emulator and the people of the example directory."""

    stack: Stack
    telegram: TelegramEmulator
    ctx: ServiceContext
    settings: Settings
    last_update: int = 0  # the update_id of what a person did last (to replay it)

    async def until(self, check: Callable[[], bool], seconds: float = 10.0) -> None:
        """Wait until ``check()`` holds (the bot works asynchronously)."""
        await until(check, seconds)

    async def eventually(self, check: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> None:
        """Wait until ``await check()`` holds (for what only the database shows)."""
        await eventually(check, seconds)

    async def next_message(self, chat: int, after: int, seconds: float = 10.0) -> Sent:
        """The first message the bot sends ``chat`` beyond the ``after`` it had."""
        await self.until(lambda: len(self.telegram.inbox(chat)) > after, seconds)
        return self.telegram.inbox(chat)[after]

    # ---- a person's side of the chat ---------------------------------------------------------

    async def says(
        self, user: int, text: str = "", *, photo: str | None = None, answers: int = 1
    ) -> list[Sent]:
        """``user`` writes; the ``answers`` messages the bot sends back."""
        seen = len(self.telegram.inbox(user))
        self.last_update = await self.telegram.user_says(user, text, photo=photo)
        await self.until(lambda: len(self.telegram.inbox(user)) >= seen + answers)
        return self.telegram.inbox(user)[seen : seen + answers]

    async def say(self, user: int, text: str = "", *, photo: str | None = None) -> Sent:
        """``user`` writes; the bot's (first) answer."""
        return (await self.says(user, text, photo=photo))[0]

    async def press(self, user: int, message: Sent, data: str) -> Sent:
        """``user`` presses a button; the next message the bot sends them."""
        seen = len(self.telegram.inbox(user))
        self.last_update = await self.telegram.user_presses(user, message, data)
        return await self.next_message(user, seen)

    async def press_label(self, user: int, message: Sent, label: str) -> Sent:
        """``user`` presses the button reading ``label``; the bot's next message to them."""
        return await self.press(user, message, data_of(message, label))

    async def alert(self, user: int, message: Sent, data: str) -> dict[str, Any]:
        """``user`` presses a button that is refused; the alert Telegram shows them."""
        update_id = await self.telegram.user_presses(user, message, data)
        await self.until(lambda: self.telegram.answer_to(update_id) is not None)
        answer = self.telegram.answer_to(update_id)
        assert answer is not None
        return answer

    async def nothing_more(self, user: int) -> None:
        """Assert the bot sends ``user`` nothing beyond what they have: their next ``/help``
        is answered first (updates are handled, and a chat's messages sent, in order)."""
        seen = len(self.telegram.inbox(user))
        await self.telegram.user_says(user, "/help")
        await self.until(lambda: len(self.telegram.inbox(user)) > seen)
        first = self.telegram.inbox(user)[seen]
        assert "/lang" in first.text, f"unexpected message: {first.text!r}"

    async def report(self, user: int, description: str, *, category: str = "快递堆放占道") -> int:
        """A resident of a known community walks the guided report; the new case's number."""
        ask = await self.say(user, "/report")
        ask = await self.press_label(user, ask, category)
        ask = await self.say(user, "172号楼门口")
        ask = await self.say(user, description)
        ask = await self.press(user, ask, ask.button_data()[0])  # no photos
        received = await self.press(user, ask, ask.button_data()[0])  # submit
        async with self.ctx.db.reading() as session:
            case = (await session.exec(select(Case).where(Case.description == description))).one()
        assert f"#{case.number}" in received.text
        assert case.number is not None
        return case.number

    # ---- the database, as an operator would look at it ---------------------------------------

    async def case(self, number: int) -> Case:
        """One case as it stands."""
        async with self.ctx.db.reading() as session:
            found = await session.get(Case, number)
        assert found is not None
        return found

    async def cases(self) -> list[Case]:
        """Every case, by number."""
        async with self.ctx.db.reading() as session:
            return list((await session.exec(select(Case).order_by(col(Case.number)))).all())

    async def photo_ids(self, number: int) -> list[str | None]:
        """The Telegram file ids of a case's photos, in the order they were sent."""
        async with self.ctx.db.reading() as session:
            return [photo.file_id for photo in await case_photos(session=session, number=number)]

    async def events(self, number: int) -> list[str]:
        """The kinds of a case's events, in order."""
        async with self.ctx.db.reading() as session:
            query = (
                select(CaseEvent.kind)
                .where(CaseEvent.case_number == number)
                .order_by(col(CaseEvent.id))
            )
            return list((await session.exec(query)).all())

    async def outbox(self) -> list[OutboxMessage]:
        """Every outbox row, oldest first."""
        async with self.ctx.db.reading() as session:
            query = select(OutboxMessage).order_by(col(OutboxMessage.id))
            return list((await session.exec(query)).all())

    async def drafts(self) -> list[Draft]:
        """Conversations in progress."""
        async with self.ctx.db.reading() as session:
            return list((await session.exec(select(Draft))).all())

    async def person(self, person_id: str) -> Person:
        """One person as the database has them."""
        async with self.ctx.db.reading() as session:
            found = await session.get(Person, person_id)
        assert found is not None
        return found

    async def identity(self, person_id: str, channel: str = "telegram") -> Identity | None:
        """A person's address on a channel as the database has it (None: they have none)."""
        async with self.ctx.db.reading() as session:
            return await queries.identity_of(session=session, person_id=person_id, channel=channel)

    async def address(self, person_id: str, channel: str = "telegram") -> str | None:
        """A person's address on a channel, or None."""
        found = await self.identity(person_id, channel)
        return found.address if found is not None else None

    # ---- the process ---------------------------------------------------------------------------

    async def stop(self) -> None:
        """Stop the stack (Telegram keeps what users send meanwhile)."""
        await self.stack.stop()

    async def start(self) -> None:
        """Start a new stack on the same settings, database and emulator."""
        self.stack = new_stack(self.settings, self.ctx)
        await self.stack.start()


def labels(message: Sent) -> list[str]:
    """The labels of a message's buttons, row by row."""
    return [b["text"] for row in message.buttons for b in row]


def data_of(message: Sent, label: str) -> str:
    """The callback data of the button reading ``label``."""
    found = [b["callback_data"] for row in message.buttons for b in row if b["text"] == label]
    assert found, f"no button {label!r} in {labels(message)}"
    return found[0]


@asynccontextmanager
async def run_stack(db: Database, *, webhook: bool = False) -> AsyncIterator[Running]:
    """The example directory loaded, its people known to the emulator, the stack started."""
    emulator = TelegramEmulator(limits=TelegramLimits(private_interval=ENFORCED_INTERVAL))
    ctx = ServiceContext(channels=BOOK, db=db, default_language="zh")
    await load_directory(ctx, read_directory(EXAMPLE))
    for user_id, name, language in (
        (RESIDENT, "李大爷", "zh"),
        (YUANXIANG, "吕先生", "zh"),
        (ANNA, "Anna", "en"),
        (MANAGER, "王经理", "zh"),
        (OTHER_MANAGER, "郑经理", "zh"),
        (SUPERVISOR, "赵主管", "zh"),
        (STAFF, "刘博", "zh"),
        (STRANGER, "新用户", "zh"),
    ):
        emulator.add_user(user_id, name, language)
    async with serve_emulators(emulator) as emulators:
        settings = run_settings(
            db.url, emulators, webhook=webhook, telegram_chat_interval=CHAT_INTERVAL
        )
        run = Running(new_stack(settings, ctx), emulator, ctx, settings)
        await run.stack.start()
        try:
            yield run
        finally:
            await run.stack.stop()


@pytest.fixture
async def running(db: Database) -> AsyncIterator[Running]:
    """The stack polling the emulator (no TELEGRAM_WEBHOOK_URL)."""
    async with run_stack(db) as run:
        yield run


@pytest.fixture
async def hooked(db: Database) -> AsyncIterator[Running]:
    """The stack in webhook mode: the emulator posts updates to its ``/telegram/webhook``."""
    async with run_stack(db, webhook=True) as run:
        yield run
