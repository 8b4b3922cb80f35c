"""The dispatcher against the Telegram emulator: paced, ordered, flood-tolerant, nothing lost."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime

from sqlmodel import col, func, select
from telegram import Bot

from bot.channels import BOOK
from bot.delivery.dispatcher import Dispatcher, Settings
from bot.delivery.pacing import Pacer
from bot.services.unit.context import ServiceContext
from bot.telegram.sender import TelegramSender
from core.cases import Channel
from db import queries
from db.engine import Database
from db.models import WAITING, Identity, OutboxMessage, Person
from sandbox.telegram import TelegramEmulator


def _real_ctx(db: Database) -> ServiceContext:
    # Delivery runs on real time: the pacing is what is under test.
    return ServiceContext(channels=BOOK, db=db, default_language="zh")


async def _queue(ctx: ServiceContext, chats: dict[int, int], person: str | None = None) -> None:
    now = datetime.now(UTC)
    async with ctx.db.transaction() as session:
        for chat, count in chats.items():
            for i in range(count):
                session.add(
                    OutboxMessage(
                        idempotency_key=f"test:{chat}:{i}",
                        channel="telegram",
                        person_id=person,
                        address=str(chat),
                        template="test",
                        text=f"message {i} to {chat}",
                        next_attempt_at=now,
                        created_at=now,
                    )
                )


async def _drain(
    ctx: ServiceContext, dispatcher: Dispatcher, seconds: float, channel: str = "telegram"
) -> None:
    """Run ``dispatcher`` until it holds nothing and nothing of its channel waits (idle alone is
    also true before its first claim)."""
    runner = asyncio.create_task(dispatcher.run())
    waiting = select(func.count()).where(
        OutboxMessage.channel == channel, col(OutboxMessage.status).in_(WAITING)
    )
    try:
        async with asyncio.timeout(seconds):
            while True:
                await asyncio.sleep(0.05)
                if not dispatcher.idle:
                    continue
                async with ctx.db.reading() as session:
                    if not (await session.exec(waiting)).one():
                        break
    finally:
        await dispatcher.stop()
        await runner


async def _statuses(ctx: ServiceContext) -> list[str]:
    async with ctx.db.reading() as session:
        query = select(OutboxMessage.status).order_by(col(OutboxMessage.id))
        return list((await session.exec(query)).all())


async def test_paced_per_chat_in_order_and_all_delivered(
    db: Database, telegram: tuple[TelegramEmulator, Bot]
) -> None:
    emulator, bot = telegram
    ctx = _real_ctx(db)
    for chat in (11, 12, 13):
        emulator.add_user(chat, f"user {chat}")
    await _queue(ctx, {11: 3, 12: 3, 13: 3})
    dispatcher = Dispatcher(
        ctx, channel=Channel.TELEGRAM, sender=TelegramSender(bot), pacer=Pacer()
    )
    await _drain(ctx, dispatcher, seconds=15)
    assert await _statuses(ctx) == ["sent"] * 9
    assert emulator.too_many_requests == 0
    for chat in (11, 12, 13):
        inbox = emulator.inbox(chat)
        assert [m.text for m in inbox] == [f"message {i} to {chat}" for i in range(3)]
        gaps = [b.at - a.at for a, b in itertools.pairwise(inbox)]
        assert min(gaps) >= 1.0


async def test_a_flooded_chat_waits_alone(
    db: Database, telegram: tuple[TelegramEmulator, Bot]
) -> None:
    emulator, bot = telegram
    ctx = _real_ctx(db)
    for chat in (21, 22):
        emulator.add_user(chat, f"user {chat}")
    emulator.forced_retry[21] = 2  # the first send to chat 21 is answered 429, retry after 2 s
    await _queue(ctx, {21: 1, 22: 2})
    dispatcher = Dispatcher(
        ctx, channel=Channel.TELEGRAM, sender=TelegramSender(bot), pacer=Pacer()
    )
    started = asyncio.get_running_loop().time()
    await _drain(ctx, dispatcher, seconds=15)
    assert await _statuses(ctx) == ["sent"] * 3
    assert len(emulator.inbox(22)) == 2
    # chat 22 was not held back by chat 21's pause: its second message went ~1 s after the first
    assert emulator.inbox(22)[1].at - started < 1.9
    assert emulator.inbox(21)[0].at - started >= 2.0


async def test_blocked_chat_is_dead_lettered_and_falls_back_to_sms(
    db: Database, telegram: tuple[TelegramEmulator, Bot]
) -> None:
    emulator, bot = telegram
    ctx = _real_ctx(db)
    async with ctx.db.transaction() as session:
        now = ctx.clock()
        session.add(Person(id="p1", name="P", role="manager"))
        for channel, address in (("telegram", "31"), ("sms", "+8613800000099")):
            session.add(Identity(person_id="p1", channel=channel, address=address, updated_at=now))
    emulator.add_user(31, "P")
    emulator.blocked.add(31)
    await _queue(ctx, {31: 1}, person="p1")
    fallbacks: list[bool] = []
    dispatcher = Dispatcher(
        ctx,
        channel=Channel.TELEGRAM,
        sender=TelegramSender(bot),
        pacer=Pacer(),
        settings=Settings(poll_seconds=0.05),
        on_fallback=lambda: fallbacks.append(True),
    )
    await _drain(ctx, dispatcher, seconds=10)
    async with ctx.db.reading() as session:
        rows = (await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all()
        chat = await queries.identity_of(session=session, person_id="p1", channel="telegram")
    assert [(r.channel, r.status) for r in rows] == [("telegram", "dead"), ("sms", "pending")]
    assert "blocked" in (rows[0].last_error or "")
    assert rows[1].address == "+8613800000099"
    assert chat is not None
    assert not chat.reachable
    assert fallbacks == [True]


async def _answer_and_notice(ctx: ServiceContext, answer_to: int, notice_to: int) -> None:
    """One action's messages: a notice to ``notice_to`` written before the answer to the person
    who acted (``answer_to``), in one transaction."""
    now = datetime.now(UTC)
    async with ctx.db.transaction() as session:
        for key, chat, reply_to in (("notice", notice_to, None), ("answer", answer_to, "in:1")):
            session.add(
                OutboxMessage(
                    idempotency_key=f"test:{key}",
                    channel="telegram",
                    address=str(chat),
                    template="test",
                    text=key,
                    reply_to=reply_to,
                    next_attempt_at=now,
                    created_at=now,
                )
            )


async def test_the_answer_goes_first_and_a_flooded_one_holds_nobody_back(
    db: Database, telegram: tuple[TelegramEmulator, Bot]
) -> None:
    emulator, bot = telegram
    ctx = _real_ctx(db)
    for chat in (51, 52, 53, 54):
        emulator.add_user(chat, f"user {chat}")
    await _answer_and_notice(ctx, answer_to=51, notice_to=52)
    dispatcher = Dispatcher(
        ctx, channel=Channel.TELEGRAM, sender=TelegramSender(bot), pacer=Pacer()
    )
    await _drain(ctx, dispatcher, seconds=15)
    assert emulator.inbox(51)[0].at < emulator.inbox(52)[0].at  # written last, arrived first

    # The answer's chat answers 429 (retry after 3 s): the notice goes after its first try.
    async with ctx.db.transaction() as session:
        for row in (await session.exec(select(OutboxMessage))).all():
            await session.delete(row)
    emulator.forced_retry[53] = 3
    await _answer_and_notice(ctx, answer_to=53, notice_to=54)
    dispatcher = Dispatcher(
        ctx, channel=Channel.TELEGRAM, sender=TelegramSender(bot), pacer=Pacer()
    )
    started = asyncio.get_running_loop().time()
    await _drain(ctx, dispatcher, seconds=15)
    assert emulator.inbox(54)[0].at - started < 1.5
    assert emulator.inbox(53)[0].at - started >= 3.0
