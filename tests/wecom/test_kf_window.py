"""WeChat's reply window as the bot keeps it, and what becomes of a message it cannot send: the
window opens with each message of the resident's and closes after 48 hours or 5 messages; a
message past it goes by the resident's next channel, or waits for their next message (never
dropped), and the case page says which."""

from __future__ import annotations

from datetime import UTC, timedelta

from sqlmodel import select

from bot.console.timeline import lines
from bot.delivery.results import record_dead
from bot.services.staff.sent import case_outbox, parties, sent_messages
from bot.services.unit.context import ServiceContext
from bot.services.unit.reach import UNTIL_THEY_WRITE
from bot.wecom.kf import window
from bot.wecom.kf.sender import CLOSED
from db import queries
from db.models import Identity, OutboxMessage, Person
from tests.conftest import Clock

KFID, OTHER_KFID = "wkAJ2GCAAASSm4_FhToWMFea0xAFfd3Q", "wkAJ2GCAAASSm4_FhToWMFea0xAFfd3R"
USER = "wmAJ2GCAAAme1XQRC-NI-q0_ZM9ukoAw"
PERSON = f"wx-{USER}"


async def test_the_window_holds_five_messages_for_48_hours(
    ctx: ServiceContext, clock: Clock
) -> None:
    await window.record_inbound(ctx, KFID, USER, clock.now)
    assert [await window.reserve(ctx, USER, 1) for _ in range(5)] == [KFID] * 5
    assert await window.reserve(ctx, USER, 1) is None  # the sixth is not attempted
    await window.give_back(ctx, KFID, USER, 2)  # two WeCom did not take
    assert await window.reserve(ctx, USER, 3) is None  # not room for three
    assert await window.reserve(ctx, USER, 2) == KFID
    clock.advance(hours=1)
    await window.record_inbound(ctx, KFID, USER, clock.now)  # they write again: five more
    clock.advance(hours=47, minutes=59)
    assert await window.reserve(ctx, USER, 1) == KFID
    clock.advance(minutes=2)
    assert await window.reserve(ctx, USER, 1) is None  # 48 hours after their last message


async def test_an_older_message_read_late_does_not_reopen_it(
    ctx: ServiceContext, clock: Clock
) -> None:
    await window.record_inbound(ctx, KFID, USER, clock.now)
    await window.reserve(ctx, USER, 5)
    await window.record_inbound(ctx, KFID, USER, clock.now - timedelta(minutes=5))
    assert await window.reserve(ctx, USER, 1) is None


async def test_answers_go_from_the_account_they_last_wrote_to(
    ctx: ServiceContext, clock: Clock
) -> None:
    await window.record_inbound(ctx, KFID, USER, clock.now)
    await window.record_inbound(ctx, OTHER_KFID, USER, clock.advance(minutes=1))
    assert await window.reserve(ctx, USER, 1) == OTHER_KFID
    await window.close(ctx, OTHER_KFID, USER)  # WeCom said 95001
    assert await window.reserve(ctx, USER, 1) is None


async def _resident(ctx: ServiceContext, *, phone: str | None = None) -> None:
    async with ctx.db.transaction() as session:
        session.add(Person(id=PERSON, name="居民", role="resident", source="wechat"))
        addresses = [("wechat", USER)] + ([("sms", phone)] if phone else [])
        for channel, address in addresses:
            session.add(
                Identity(person_id=PERSON, channel=channel, address=address, updated_at=ctx.clock())
            )


async def _queued(ctx: ServiceContext, key: str = "k1", reply_to: str | None = None) -> int:
    """A message about case 1 to the resident on WeChat, as the outbox writer queues it
    (``reply_to``: the answer to a message of theirs)."""
    async with ctx.db.transaction() as session:
        row = OutboxMessage(
            idempotency_key=key,
            channel="wechat",
            address=USER,
            person_id=PERSON,
            case_number=1,
            template="notify.acknowledged",
            text="您的诉求 #1 已有负责人接单，正在处理。",
            next_attempt_at=ctx.clock(),
            created_at=ctx.clock(),
            reply_to=reply_to,
        )
        session.add(row)
        await session.flush()
        assert row.id is not None
        return row.id


async def _page(ctx: ServiceContext) -> list[tuple[str, str]]:
    async with ctx.db.reading() as session:
        rows = await case_outbox(session, 1)
        people = await parties(session, [r.person_id for r in rows])
    return [(line.channel, line.state) for line in lines(sent_messages(rows, UTC), people, "zh")]


async def test_past_the_window_it_goes_by_sms_and_the_page_says_so(ctx: ServiceContext) -> None:
    await _resident(ctx, phone="+8613900000777")
    row_id = await _queued(ctx)
    fallback = await record_dead(ctx, message_id=row_id, error=CLOSED, unreachable=True, waits=True)
    assert fallback is not None
    assert (fallback.channel, fallback.address) == ("sms", "+8613900000777")
    async with ctx.db.reading() as session:
        wechat = await queries.identity_of(session=session, person_id=PERSON, channel="wechat")
    assert wechat is not None
    assert not wechat.reachable  # until they write there again: SMS meanwhile
    assert await _page(ctx) == [
        ("微信客服", "未在此渠道发出：对方来信后的回复时限已过 · 已改由短信发送"),
        ("短信", "待发送"),
    ]


async def test_with_no_other_channel_it_waits_for_their_next_message(
    ctx: ServiceContext, clock: Clock
) -> None:
    await _resident(ctx)
    row_id = await _queued(ctx)
    fallback = await record_dead(ctx, message_id=row_id, error=CLOSED, unreachable=True, waits=True)
    assert fallback is None
    async with ctx.db.reading() as session:
        row = await session.get(OutboxMessage, row_id)
        wechat = await queries.identity_of(session=session, person_id=PERSON, channel="wechat")
    assert row is not None
    assert wechat is not None
    assert (row.status, row.next_attempt_at) == ("pending", UNTIL_THEY_WRITE)
    assert wechat.reachable  # what is said to them meanwhile is queued there, and waits too
    assert await _page(ctx) == [
        ("微信客服", "等对方下次发来消息后发出（此渠道只能在对方来信后的一段时间内回复）")
    ]
    clock.advance(hours=50)
    await window.record_inbound(ctx, KFID, USER, clock.now)  # they write: it is due now
    async with ctx.db.reading() as session:
        due = (await session.exec(select(OutboxMessage).where(OutboxMessage.id == row_id))).one()
    assert due.next_attempt_at <= clock.now
    assert due.status == "pending"


async def test_an_answer_past_the_window_waits_even_with_a_phone(ctx: ServiceContext) -> None:
    """It answers what they just did on WeChat: they are there, and it goes when they write."""
    await _resident(ctx, phone="+8613900000777")
    row_id = await _queued(ctx, reply_to="wechat:from_msgid_4622416642169452483")
    assert (
        await record_dead(ctx, message_id=row_id, error=CLOSED, unreachable=True, waits=True)
        is None
    )
    async with ctx.db.reading() as session:
        row = await session.get(OutboxMessage, row_id)
    assert row is not None
    assert (row.status, row.next_attempt_at) == ("pending", UNTIL_THEY_WRITE)
