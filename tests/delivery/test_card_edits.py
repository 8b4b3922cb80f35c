"""Edits of a case card against the Telegram emulator: the last one a chat applies is the newest,
whenever the card itself went out, and a 429 on the chat in the middle changes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest
from telegram import Bot

from bot.channels import BOOK
from bot.delivery.dispatcher import Dispatcher, Settings
from bot.delivery.pacing import Pacer
from bot.delivery.store import outbox_messages
from bot.services.unit.context import ServiceContext
from bot.services.unit.outbox import Outbox
from bot.telegram.sender import TelegramSender
from core.buttons import Button
from db.engine import Database
from db.models import OutboxMessage
from sandbox.harness import until
from sandbox.telegram import Sent, TelegramEmulator

CHAT = 41
CARD = "📋 诉求 #1"


async def card(ctx: ServiceContext, *, chat: int = CHAT, number: int = 1) -> OutboxMessage:
    """A case card with a button, queued for ``chat`` (and not sent yet)."""
    async with ctx.db.transaction() as session:
        outbox = Outbox(session, datetime.now(UTC), "zh", BOOK)
        row = outbox.row(
            key=f"case:{number}:card",
            channel="telegram",
            address=str(chat),
            person_id=None,
            case_number=number,
            template="case.card",
            params={},
            language="zh",
            text=CARD.replace("#1", f"#{number}"),
            buttons=[[Button("button.ack", f"ack:{number}")]],
            urgent=False,
        )
        session.add(row)
    return row


async def edit(ctx: ServiceContext, card: OutboxMessage, status: str) -> None:
    """Queue an edit of ``card`` saying ``status``, as a use case does."""
    async with ctx.db.transaction() as session:
        outbox = Outbox(session, datetime.now(UTC), "zh", BOOK)
        key = f"case:{card.case_number}:{status}"
        await outbox.edit(card, key=key, text=f"{card.text}\n{status}", buttons=[])


@asynccontextmanager
async def delivering(
    ctx: ServiceContext, bot: Bot, *, pacer: Pacer | None = None
) -> AsyncIterator[Dispatcher]:
    """The dispatcher running; on leaving, until nothing waits in the outbox, then stopped."""
    dispatcher = Dispatcher(
        ctx,
        channel="telegram",
        sender=TelegramSender(bot),
        pacer=pacer or Pacer(),
        settings=Settings(poll_seconds=0.1),
    )
    runner = asyncio.create_task(dispatcher.run())
    try:
        yield dispatcher
        async with asyncio.timeout(15):
            # the outbox is a table: nothing to wait on but its rows
            while await outbox_messages(ctx) or not dispatcher.idle:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        await asyncio.sleep(1.5)  # anything deferred would go out by now
    finally:
        await dispatcher.stop()
        await runner


def _shown(message: Sent) -> list[str]:
    """The status lines the chat showed on the card, in the order it showed them."""
    return [text.splitlines()[-1] for _, text, _ in message.history[1:]]


@pytest.fixture
def chat(
    db: Database, telegram: tuple[TelegramEmulator, Bot]
) -> tuple[ServiceContext, TelegramEmulator, Bot]:
    """The services on ``db``, the emulator with the resident's chat open, and the bot."""
    emulator, bot = telegram
    emulator.add_user(CHAT, "居民")
    return ServiceContext(channels=BOOK, db=db, default_language="zh"), emulator, bot


def _the_card(emulator: TelegramEmulator) -> Sent:
    cards = [m for m in emulator.inbox(CHAT) if m.text.startswith(CARD)]
    assert len(cards) == 1
    return cards[0]


async def test_two_edits_of_an_unsent_card_reach_the_chat_as_the_newest_only(
    chat: tuple[ServiceContext, TelegramEmulator, Bot],
) -> None:
    ctx, emulator, bot = chat
    card_row = await card(ctx)
    await edit(ctx, card_row, "处理中")
    await edit(ctx, card_row, "待评价")
    async with delivering(ctx, bot):
        pass
    shown = _the_card(emulator)
    assert shown.text == f"{CARD}\n待评价"
    assert _shown(shown) == ["待评价"]  # the older edit was superseded, never sent


async def test_an_edit_queued_before_its_card_went_out_never_overtakes_a_newer_one(
    chat: tuple[ServiceContext, TelegramEmulator, Bot],
) -> None:
    ctx, emulator, bot = chat
    card_row = await card(ctx)
    await edit(ctx, card_row, "处理中")  # while the card is still unsent
    async with delivering(ctx, bot) as dispatcher:
        await until(lambda: bool(emulator.inbox(CHAT)))
        await edit(ctx, card_row, "已办结")  # after the card went out
        dispatcher.kick()
    shown = _the_card(emulator)
    assert shown.text == f"{CARD}\n已办结"
    assert _shown(shown)[-1:] == ["已办结"]
    assert "处理中" not in _shown(shown)[_shown(shown).index("已办结") :]


async def test_a_429_on_the_cards_chat_in_the_middle_changes_nothing(
    chat: tuple[ServiceContext, TelegramEmulator, Bot],
) -> None:
    ctx, emulator, bot = chat
    emulator.forced_retry[CHAT] = 1  # the card's send is answered 429, retry after 1 s
    card_row = await card(ctx)
    await edit(ctx, card_row, "处理中")
    async with delivering(ctx, bot) as dispatcher:
        await until(lambda: bool(emulator.inbox(CHAT)))
        await edit(ctx, card_row, "待评价")
        dispatcher.kick()
        await asyncio.sleep(0.3)
        await edit(ctx, card_row, "已办结")
        dispatcher.kick()
    shown = _the_card(emulator)
    assert CHAT not in emulator.forced_retry  # the 429 was answered
    assert shown.text == f"{CARD}\n已办结"
    statuses = _shown(shown)
    assert statuses == sorted(statuses, key=["处理中", "待评价", "已办结"].index)
    assert len(statuses) == len(set(statuses))  # each status at most once
