"""The crowd in the daily digest (docs/reference.md §4): how many open cases residents follow and
how many residents follow them, and how many duplicates were merged in the past day — in
Chinese and English, and within the one SMS segment of staff without Telegram."""

from __future__ import annotations

from bot.services.cases import merge
from bot.services.cases.following import follow_in
from bot.services.cases.report import NewReport, report
from bot.services.digest.daily import send_digest
from bot.services.unit.context import Actor, ServiceContext
from bot.services.unit.work import unit_of_work
from core.cases import Channel
from core.sms import segments
from db import queries
from db.models import Person
from tests.conftest import Clock

from .example import ACTORS

RESIDENT, STAFF = ACTORS["resident"], ACTORS["staff"]
NEIGHBOUR = Actor("r-yunwan-en", Channel.TELEGRAM)
TEXTER = Actor("r-bgy-72", Channel.SMS)
PARCELS = NewReport("jzsj-south", "parcels", "快递堆在马路上", location="172号楼门口")


async def _reported(ctx: ServiceContext, who: Actor) -> int:
    assert who.person_id is not None
    case = await report(ctx, resident_id=who.person_id, channel=who.channel, new=PARCELS)
    assert case.number is not None
    return case.number


async def _crowd(ctx: ServiceContext, clock: Clock) -> tuple[int, int]:
    """Yesterday: a neighbour follows A, and B (the same problem, by text) is merged into it —
    so A is followed by two residents; the digest the morning after."""
    a = await _reported(ctx, RESIDENT)
    async with unit_of_work(ctx) as unit:
        neighbour = await queries.get_person(session=unit.session, person_id="r-yunwan-en")
        assert neighbour is not None
        await follow_in(unit, person=neighbour, number=a, channel="telegram")
    clock.advance(minutes=5)
    b = await _reported(ctx, TEXTER)
    clock.advance(minutes=5)
    await merge.merge(ctx, number=b, into=a, actor=STAFF)
    clock.advance(hours=23)
    return a, b


async def _speak(ctx: ServiceContext, language: str) -> None:
    async with ctx.db.transaction() as session:
        staff = await session.get(Person, "liubo")
        assert staff is not None
        staff.language = language
        session.add(staff)


async def test_staff_read_the_crowd_in_both_languages(loaded: ServiceContext, clock: Clock) -> None:
    await _crowd(loaded, clock)
    message = await send_digest(loaded, person_id="liubo")
    assert message is not None
    assert "有人关注的在办诉求 1 件，共 2 位居民关注" in message.text
    assert "过去一天合并重复诉求 1 件" in message.text

    await _speak(loaded, "en")
    clock.advance(days=1)  # tomorrow's: the merge is older than a day now
    message = await send_digest(loaded, person_id="liubo")
    assert message is not None
    assert "Open cases with followers: 1, followed by 2 resident(s)" in message.text
    assert "merged" not in message.text


async def test_nothing_is_said_of_a_crowd_there_is_not(
    loaded: ServiceContext, clock: Clock
) -> None:
    a, b = await _crowd(loaded, clock)
    await merge.unmerge(loaded, number=b, actor=STAFF)  # an undone merge is no duplicate
    message = await send_digest(loaded, person_id="liubo")
    assert message is not None
    assert "有人关注的在办诉求 1 件，共 1 位居民关注" in message.text  # the neighbour alone
    assert "合并" not in message.text
    assert (await _case_followers(loaded, a)) == 1


async def _case_followers(ctx: ServiceContext, number: int) -> int:
    async with ctx.db.reading() as session:
        case = await queries.get_case(session=session, number=number)
    assert case is not None
    return case.followers


async def test_staff_without_telegram_read_it_in_one_sms_segment(
    loaded: ServiceContext, clock: Clock
) -> None:
    await _crowd(loaded, clock)
    async with loaded.db.transaction() as session:
        chat = await queries.identity_of(session=session, person_id="liubo", channel="telegram")
        assert chat is not None
        await session.delete(chat)
    message = await send_digest(loaded, person_id="liubo")
    assert message is not None
    assert message.channel == "sms"
    assert "2人关注，合并1件" in message.text
    assert segments(message.text) == 1
    await _speak(loaded, "en")
    clock.advance(days=1)
    message = await send_digest(loaded, person_id="liubo")
    assert message is not None
    assert "2 following, 0 merged" in message.text
    assert segments(message.text) == 1
