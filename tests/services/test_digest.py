"""The daily digest: what staff read, in zh and en, a real chart, the same rates as stats, once."""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta

import matplotlib.image
from sqlmodel import col, select

from bot.services.cases import lifecycle
from bot.services.cases.report import NewReport, report
from bot.services.digest.daily import send_digest, staff_members
from bot.services.staff.stats import Period, rates
from bot.services.unit.context import Actor, ServiceContext
from core.cases import Channel, Rating
from core.sms import segments
from core.tables import percent
from db import queries
from db.models import OutboxMessage, Person
from tests.conftest import Clock

TG = Channel.TELEGRAM
MANAGER = Actor("mgr-jzsj-south", TG)
RESIDENT = Actor("r-jzsj-172", TG)


async def _scenario(ctx: ServiceContext, clock: Clock) -> list[int]:
    """Yesterday: one case fixed and rated basically satisfied, one left unanswered."""
    numbers = []
    for text in ("快递堆在路上", "驿站门口堵了"):
        case = await report(
            ctx,
            resident_id=RESIDENT.person_id or "",
            channel=TG,
            new=NewReport("jzsj-south", "parcels", text, location="172"),
        )
        assert case.number is not None
        numbers.append(case.number)
    clock.advance(minutes=10)
    await lifecycle.acknowledge(ctx, number=numbers[0], actor=MANAGER)
    await lifecycle.resolve(ctx, number=numbers[0], actor=MANAGER)
    await lifecycle.rate(ctx, number=numbers[0], actor=RESIDENT, rating=Rating.BASICALLY_SATISFIED)
    clock.advance(days=1)  # the digest the morning after
    return numbers


async def _digest_rows(ctx: ServiceContext, person: str) -> list[OutboxMessage]:
    async with ctx.db.reading() as session:
        query = select(OutboxMessage).where(
            OutboxMessage.person_id == person, col(OutboxMessage.idempotency_key).contains("digest")
        )
        return list((await session.exec(query.order_by(col(OutboxMessage.id)))).all())


async def test_staff_read_their_communities_with_the_rates_of_stats(
    loaded: ServiceContext, clock: Clock
) -> None:
    numbers = await _scenario(loaded, clock)
    assert "liubo" in await staff_members(loaded)
    message = await send_digest(loaded, person_id="liubo")
    assert message is not None
    text = message.text
    assert "嘉州水郡南区社区" in text
    assert f"#{numbers[1]}" in text  # the unanswered one is overdue, and named
    assert "王经理" in text  # with who holds it
    today = clock.now.date()
    yesterday = today - timedelta(days=1)
    by_stats = (await rates(loaded, period=Period(yesterday, yesterday), by="community"))[
        "jzsj-south"
    ]
    shown = (
        f"响应 {percent(by_stats.response_rate)} · 解决 {percent(by_stats.resolution_rate)} · "
        f"满意 {percent(by_stats.satisfaction_rate)}"
    )
    assert shown in text
    assert by_stats.satisfaction_rate == 0.9  # basically satisfied counts 0.9
    month = (await rates(loaded, period=Period(today.replace(day=1), today), by="community"))[
        "jzsj-south"
    ]
    assert f"本月三率：响应 {percent(month.response_rate)}" in text

    rows = await _digest_rows(loaded, "liubo")
    chart = next(r for r in rows if r.photo is not None)
    assert chart.photo is not None
    assert chart.photo[:8] == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(io.BytesIO(chart.photo), format="png")
    assert image.shape[0] >= 300
    assert image.shape[1] >= 600
    assert len(chart.photo) > 10_000


async def test_english_staff_read_english(loaded: ServiceContext, clock: Clock) -> None:
    await _scenario(loaded, clock)
    async with loaded.db.transaction() as session:
        staff = await session.get(Person, "liubo")
        assert staff is not None
        staff.language = "en"
        session.add(staff)
    message = await send_digest(loaded, person_id="liubo")
    assert message is not None
    assert "Daily digest" in message.text
    assert "Jiazhou Shuijun South" in message.text
    assert "Overdue (oldest first):" in message.text


async def test_once_a_day_however_many_try(loaded: ServiceContext, clock: Clock) -> None:
    await _scenario(loaded, clock)
    results = await asyncio.gather(*(send_digest(loaded, person_id="liubo") for _ in range(3)))
    assert sum(r is not None for r in results) == 1
    assert await send_digest(loaded, person_id="liubo") is None
    texts = [r for r in await _digest_rows(loaded, "liubo") if r.photo is None]
    assert len(texts) == 1
    clock.advance(days=1)
    assert await send_digest(loaded, person_id="liubo") is not None  # tomorrow's


async def test_staff_without_telegram_get_one_sms_segment(
    loaded: ServiceContext, clock: Clock
) -> None:
    await _scenario(loaded, clock)
    async with loaded.db.transaction() as session:
        chat = await queries.identity_of(session=session, person_id="liubo", channel="telegram")
        assert chat is not None
        await session.delete(chat)
    message = await send_digest(loaded, person_id="liubo")
    assert message is not None
    assert message.channel == "sms"
    assert segments(message.text) == 1
    assert "超时1件" in message.text
