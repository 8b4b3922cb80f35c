"""One problem, one case (docs/reference.md §4): following an open case, a follower's rating as
feedback, and staff merging a duplicate into its original and undoing it — read off what people
are told (the outbox) and what the tables keep, through the real services."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from sqlmodel import col, select

from bot.services.cases import lifecycle, merge
from bot.services.cases.following import follow_in, suggestions
from bot.services.cases.report import NewReport, report
from bot.services.data.erase import erase_person
from bot.services.data.export import export_person
from bot.services.staff import stats
from bot.services.unit.context import Actor, ServiceContext, ServiceRefusal
from bot.services.unit.work import unit_of_work
from core.cases import Channel, EventKind, Rating
from db import queries
from db.models import Case, CaseEvent, CaseFollower, Identity, OutboxMessage, Person

from .example import ACTORS

RESIDENT, MANAGER, STAFF = ACTORS["resident"], ACTORS["manager"], ACTORS["staff"]
NEIGHBOUR = Actor("r-yunwan-en", Channel.TELEGRAM)  # writes in English
TEXTER = Actor("r-bgy-72", Channel.SMS)  # has no Telegram: hears by SMS
PARCELS = NewReport("jzsj-south", "parcels", "快递堆在马路上", location="172号楼门口")


async def new_case(ctx: ServiceContext, who: Actor = RESIDENT, new: NewReport = PARCELS) -> int:
    assert who.person_id is not None
    case = await report(ctx, resident_id=who.person_id, channel=who.channel, new=new)
    assert case.number is not None
    return case.number


async def follow(ctx: ServiceContext, who: Actor, number: int) -> None:
    async with unit_of_work(ctx) as unit:
        person = await queries.get_person(session=unit.session, person_id=who.person_id or "")
        assert person is not None
        await follow_in(unit, person=person, number=number, channel=who.channel)


async def told(
    ctx: ServiceContext, person: Actor, number: int | None = None
) -> list[OutboxMessage]:
    """What ``person`` was sent (about case ``number``), oldest first, edits left out."""
    async with ctx.db.reading() as session:
        query = select(OutboxMessage).where(
            OutboxMessage.person_id == person.person_id, col(OutboxMessage.edit_of).is_(None)
        )
        if number is not None:
            query = query.where(OutboxMessage.case_number == number)
        return list((await session.exec(query.order_by(col(OutboxMessage.id)))).all())


def templates(messages: Sequence[OutboxMessage]) -> list[str]:
    return [m.template for m in messages]


async def case(ctx: ServiceContext, number: int) -> Case:
    async with ctx.db.reading() as session:
        found = await queries.get_case(session=session, number=number)
    assert found is not None
    return found


async def kinds(ctx: ServiceContext, number: int) -> list[str]:
    async with ctx.db.reading() as session:
        rows = await session.exec(
            select(CaseEvent.kind)
            .where(CaseEvent.case_number == number)
            .order_by(col(CaseEvent.id))
        )
        return list(rows.all())


async def tables(ctx: ServiceContext) -> tuple[Any, ...]:
    """Everything a refused change must leave as it was."""
    async with ctx.db.reading() as session:
        cases = (await session.exec(select(Case).order_by(col(Case.number)))).all()
        events = (await session.exec(select(CaseEvent.id))).all()
        follows = (await session.exec(select(CaseFollower.id))).all()
        sent = (await session.exec(select(OutboxMessage.id))).all()
    return ([c.model_dump() for c in cases], list(events), list(follows), list(sent))


async def test_followers_hear_every_step_once_in_their_own_language(
    loaded: ServiceContext,
) -> None:
    ctx = loaded
    n = await new_case(ctx)
    await follow(ctx, NEIGHBOUR, n)
    await follow(ctx, TEXTER, n)
    assert (await case(ctx, n)).followers == 2
    await lifecycle.acknowledge(ctx, number=n, actor=MANAGER)
    await lifecycle.resolve(ctx, number=n, actor=MANAGER, note="已清理")
    await lifecycle.rate(ctx, number=n, actor=RESIDENT, rating=Rating.SATISFIED)
    steps = ["case.f_following", "case.f_acknowledged", "case.f_resolved", "case.f_closed"]
    english = await told(ctx, NEIGHBOUR, n)
    assert templates(english) == steps
    assert {(m.channel, m.language) for m in english} == {("telegram", "en")}
    assert "which you follow, is closed" in english[-1].text
    sms = await told(ctx, TEXTER, n)
    assert templates(sms) == steps
    assert {(m.channel, m.language) for m in sms} == {("sms", "zh")}
    assert "您关注的诉求" in sms[-1].text
    # The follower may rate a resolved case: three buttons on the "fixed" message.
    resolved = english[2]
    assert [b["data"] for row in resolved.buttons for b in row] == [
        f"rate:{n}:1",
        f"rate:{n}:2",
        f"rate:{n}:3",
    ]
    # The manager got one card, and its edits count the residents it concerns.
    cards = [m for m in await told(ctx, MANAGER, n) if m.template == "case.card"]
    assert len(cards) == 1
    async with ctx.db.reading() as session:
        edits = await session.exec(
            select(OutboxMessage.text).where(OutboxMessage.edit_of == cards[0].id)
        )
        assert any("涉及居民：3 人" in text for text in edits.all())


async def test_a_followers_rating_is_feedback_the_reporters_closes(loaded: ServiceContext) -> None:
    ctx = loaded
    n = await new_case(ctx)
    await follow(ctx, NEIGHBOUR, n)
    await lifecycle.acknowledge(ctx, number=n, actor=MANAGER)
    await lifecycle.resolve(ctx, number=n, actor=MANAGER)
    after = await lifecycle.rate(ctx, number=n, actor=NEIGHBOUR, rating=Rating.DISSATISFIED)
    assert (after.status, after.rating, after.reopen_count) == ("resolved", None, 0)
    assert (await kinds(ctx, n))[-1] == EventKind.FEEDBACK.value
    assert templates(await told(ctx, NEIGHBOUR, n))[-1] == "case.f_feedback_thanks"
    heard = (await told(ctx, MANAGER, n))[-1]
    assert (heard.template, "不满意" in heard.text) == ("case.feedback", True)
    async with ctx.db.reading() as session:
        row = (await session.exec(select(CaseFollower))).one()
    assert row.rating == "dissatisfied"
    closed = await lifecycle.rate(ctx, number=n, actor=RESIDENT, rating=Rating.SATISFIED)
    assert (closed.status, closed.rating) == ("closed", "satisfied")


async def test_following_is_once_per_person_and_only_of_an_open_case(
    loaded: ServiceContext,
) -> None:
    ctx = loaded
    n = await new_case(ctx)
    await follow(ctx, NEIGHBOUR, n)
    before = await tables(ctx)
    for who, reason in ((NEIGHBOUR, "refused.follow_again"), (RESIDENT, "refused.follow_own")):
        with pytest.raises(ServiceRefusal) as refused:
            await follow(ctx, who, n)
        assert refused.value.reason == reason
    await lifecycle.reject(ctx, number=n, actor=STAFF, note="不属于社区事务")
    closed = await tables(ctx)
    with pytest.raises(ServiceRefusal) as refused:
        await follow(ctx, TEXTER, n)
    assert refused.value.reason == "refused.follow_closed"
    assert await tables(ctx) == closed
    assert before != closed  # (the rejection itself changed things; the refusals did not)


async def test_a_merge_moves_the_people_and_leaves_the_duplicate_out_of_the_rates(
    loaded: ServiceContext,
) -> None:
    ctx = loaded
    a = await new_case(ctx)
    b = await new_case(ctx, TEXTER)
    await follow(ctx, NEIGHBOUR, b)
    rates_before = await stats.rates(ctx)
    merged = await merge.merge(ctx, number=b, into=a, actor=STAFF)
    assert (merged.status, merged.duplicate_of) == ("rejected", a)
    original = await case(ctx, a)
    assert original.followers == 2  # B's reporter and B's follower
    # B's reporter is told in words that A carries it on, by SMS, in Chinese.
    said = (await told(ctx, TEXTER, b))[-1]
    assert said.template == "case.merged"
    assert f"已合并到 #{a} 继续办理" in said.text
    assert said.channel == "sms"
    # A's manager hears how many residents it now concerns (its reporter and two more).
    heard = (await told(ctx, MANAGER, a))[-1]
    assert heard.template == "case.merged_in"
    assert "3 位居民" in heard.text
    # B counts in nothing: one case fewer, the rates as if it never was.
    rates_after = await stats.rates(ctx)
    assert rates_after[""].cases == rates_before[""].cases - 1
    # B's people hear A's steps.
    await lifecycle.acknowledge(ctx, number=a, actor=MANAGER)
    assert templates(await told(ctx, TEXTER, a))[-1] == "case.f_acknowledged"
    assert templates(await told(ctx, NEIGHBOUR, a))[-1] == "case.f_acknowledged"


async def test_an_undone_merge_restores_the_duplicate_as_it_was(loaded: ServiceContext) -> None:
    ctx = loaded
    a = await new_case(ctx)
    b = await new_case(ctx, TEXTER)
    await lifecycle.acknowledge(ctx, number=b, actor=MANAGER)
    was = await case(ctx, b)
    await merge.merge(ctx, number=b, into=a, actor=STAFF)
    back = await merge.unmerge(ctx, number=b, actor=STAFF)
    fields = ("status", "manager_id", "escalation_level", "duplicate_of", "closed_at")
    assert [getattr(back, f) for f in fields] == [getattr(was, f) for f in fields]
    assert back.next_due_at == was.next_due_at
    assert (await case(ctx, a)).followers == 0
    assert templates(await told(ctx, TEXTER, b))[-1] == "case.unmerged"
    # B's manager gets its card back, with the buttons of its status.
    card = (await told(ctx, MANAGER, b))[-1]
    assert card.template == "case.card"
    assert [b_["data"] for row in card.buttons for b_ in row] == [
        *(f"done:{b}", f"decline:{b}"),
        f"ask:{b}",
    ]
    # B counts again.
    assert (await stats.rates(ctx))[""].cases == 2


async def test_refused_merges_change_nothing(loaded: ServiceContext) -> None:
    ctx = loaded
    a = await new_case(ctx)
    b = await new_case(ctx, TEXTER)
    elsewhere = await new_case(
        ctx, Actor("r-bgy-72", Channel.SMS), NewReport("bgy-north", "other", "路灯坏了")
    )
    closed = await new_case(ctx)
    await lifecycle.close(ctx, number=closed, actor=STAFF, note="已处理")
    before = await tables(ctx)
    refusals = [
        (b, b, STAFF, "refused.merge_self"),
        (b, elsewhere, STAFF, "refused.merge_other_community"),
        (b, closed, STAFF, "refused.merge_into_closed"),
        (b, 99999, STAFF, "refused.unknown_original"),
        (b, a, MANAGER, "refused.not_entitled"),
        (b, a, ACTORS["other_staff"], "refused.not_entitled"),
    ]
    for number, into, actor, reason in refusals:
        with pytest.raises(ServiceRefusal) as refused:
            await merge.merge(ctx, number=number, into=into, actor=actor)
        assert refused.value.reason == reason, (number, into, actor)
        assert await tables(ctx) == before, reason
    with pytest.raises(ServiceRefusal) as refused:
        await merge.unmerge(ctx, number=b, actor=STAFF)
    assert refused.value.reason == "refused.not_merged"
    # Once A is finished, a merge into it can no longer be undone.
    await merge.merge(ctx, number=b, into=a, actor=STAFF)
    await lifecycle.close(ctx, number=a, actor=STAFF, note="已处理")
    settled = await tables(ctx)
    with pytest.raises(ServiceRefusal) as refused:
        await merge.unmerge(ctx, number=b, actor=STAFF)
    assert refused.value.reason == "refused.unmerge_closed"
    assert await tables(ctx) == settled


async def test_suggestions_are_the_same_place_and_kind_within_the_window(
    loaded: ServiceContext,
) -> None:
    ctx = loaded
    a = await new_case(ctx)
    await new_case(ctx, new=NewReport("jzsj-south", "parcels", "快递", location="173号楼"))
    await new_case(ctx, new=NewReport("jzsj-south", "other", "路灯坏了", location="172号楼"))
    async with ctx.db.reading() as session:

        async def offered(building: str, *, days: float = 0) -> list[int]:
            from datetime import timedelta

            found = await suggestions(
                session,
                community_id="jzsj-south",
                category_id="parcels",
                building=building,
                now=ctx.clock() + timedelta(days=days),
            )
            return [s.number for s in found]

        assert await offered("172") == [a]
        assert len(await offered("")) == 2  # no building named: the community's, newest first
        assert await offered("174") == []
        assert await offered("172", days=3.1) == []  # past the default three days


async def test_a_followers_data_is_exported_and_erased(loaded: ServiceContext) -> None:
    ctx = loaded
    n = await new_case(ctx)
    # Someone who first wrote in by SMS (the directory's people cannot be erased).
    async with unit_of_work(ctx) as unit:
        unit.session.add(Person(id="sms-stranger", name="", role="resident", source="sms"))
        unit.session.add(
            Identity(
                person_id="sms-stranger",
                channel="sms",
                address="+8613700000099",
                source="sms",
                updated_at=unit.now,
            )
        )
    stranger = Actor("sms-stranger", Channel.SMS)
    await follow(ctx, stranger, n)
    data = await export_person(ctx, "sms-stranger", actor=Actor(None, Channel.CLI))
    assert [f["case"] for f in data["following"]] == [n]
    await erase_person(ctx, "sms-stranger", actor=Actor(None, Channel.CLI))
    assert (await case(ctx, n)).followers == 0
    async with ctx.db.reading() as session:
        assert (await session.exec(select(CaseFollower))).all() == []
