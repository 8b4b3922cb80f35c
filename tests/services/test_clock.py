"""The clock with an injected time (no sleeping): reminders, escalation, nudges, unrated close,
quiet hours, working days — each step exactly once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select

from bot.channels import BOOK
from bot.services.cases import lifecycle
from bot.services.cases.report import NewReport, report
from bot.services.cases.timers import run_due
from bot.services.digest.daily import send_digest
from bot.services.unit.context import Actor, ServiceContext
from core.cases import Channel
from core.due import Step
from db.engine import open_database
from db.models import Case, CaseEvent, OutboxMessage
from tests.conftest import POSTGRES_URL, Clock

SHANGHAI = ZoneInfo("Asia/Shanghai")
MANAGER, SUPERVISOR, STAFF = "mgr-jzsj-south", "sup-jzsj-south", "liubo"


async def _case(ctx: ServiceContext, category: str = "parcels") -> int:
    case = await report(
        ctx,
        resident_id="r-jzsj-172",
        channel=Channel.TELEGRAM,
        new=NewReport("jzsj-south", category, "快递堆在路上", location="172"),
    )
    assert case.number is not None
    return case.number


async def _kinds(ctx: ServiceContext, number: int) -> list[str]:
    async with ctx.db.reading() as session:
        query = select(CaseEvent.kind).where(CaseEvent.case_number == number)
        return list((await session.exec(query.order_by(col(CaseEvent.id)))).all())


async def _told(ctx: ServiceContext, person: str, template: str) -> int:
    async with ctx.db.reading() as session:
        query = select(OutboxMessage).where(
            OutboxMessage.person_id == person, OutboxMessage.template == template
        )
        return len((await session.exec(query)).all())


async def test_reminders_then_escalation_to_supervisor_then_staff(
    loaded: ServiceContext, clock: Clock
) -> None:
    number = await _case(loaded)
    assert await run_due(loaded) == {}  # nothing is due before the acknowledge deadline
    expected = [
        Step.REMIND,
        Step.REMIND,
        Step.ESCALATE,  # to the supervisor
        Step.REMIND,
        Step.REMIND,
        Step.ESCALATE,  # to staff
        Step.REMIND,  # at the top the reminders go on
    ]
    clock.advance(minutes=30)
    for step in expected:
        assert await run_due(loaded) == {step: 1}
        assert await run_due(loaded) == {}  # the same moment again: nothing twice
        clock.advance(minutes=30)
    assert await _kinds(loaded, number) == [
        "reported",
        "routed",
        "reminded",
        "reminded",
        "escalated",
        "reminded",
        "reminded",
        "escalated",
        "reminded",
    ]
    assert await _told(loaded, MANAGER, "case.reminder") == 2
    assert await _told(loaded, SUPERVISOR, "case.escalated") == 1
    assert await _told(loaded, SUPERVISOR, "case.reminder") == 2
    assert await _told(loaded, STAFF, "case.escalated") == 1
    assert await _told(loaded, STAFF, "case.reminder") == 1


async def test_acknowledging_stops_the_unacknowledged_reminders(
    loaded: ServiceContext, clock: Clock
) -> None:
    number = await _case(loaded)
    clock.advance(minutes=30)
    assert await run_due(loaded) == {Step.REMIND: 1}
    await lifecycle.acknowledge(loaded, number=number, actor=Actor(MANAGER, Channel.TELEGRAM))
    for _ in range(10):  # five hours: the resolve deadline (72 h) is far away
        clock.advance(minutes=30)
        assert await run_due(loaded) == {}
    assert await _told(loaded, MANAGER, "case.reminder") == 1


async def test_resolved_is_nudged_once_then_closed_unrated(
    loaded: ServiceContext, clock: Clock
) -> None:
    number = await _case(loaded)
    await lifecycle.resolve(loaded, number=number, actor=Actor(MANAGER, Channel.TELEGRAM))
    clock.advance(hours=35)  # Thursday 21:00 in Beijing
    assert await run_due(loaded) == {}
    clock.advance(hours=1)  # half of confirm_within (72 h): Thursday 22:00, the quiet hours
    assert await run_due(loaded) == {Step.WAIT: 1}
    assert await _told(loaded, "r-jzsj-172", "case.nudge") == 0
    clock.advance(hours=9)  # Friday 07:00
    assert await run_due(loaded) == {Step.NUDGE: 1}
    assert await _told(loaded, "r-jzsj-172", "case.nudge") == 1
    clock.advance(hours=26)  # Saturday 09:00
    assert await run_due(loaded) == {}
    clock.advance(hours=1)  # 72 h after "fixed"
    assert await run_due(loaded) == {Step.CLOSE_UNRATED: 1}
    async with loaded.db.reading() as session:
        case = await session.get(Case, number)
    assert case is not None
    assert (case.status, case.rating, case.next_due_at) == ("closed", None, None)
    assert await _told(loaded, "r-jzsj-172", "case.closed_unrated") == 1


async def test_quiet_hours_hold_a_reminder_until_seven_but_not_an_urgent_one(
    loaded: ServiceContext, clock: Clock
) -> None:
    clock.now = datetime(2026, 11, 25, 22, 40, tzinfo=SHANGHAI).astimezone(UTC)
    parcels = await _case(loaded)  # due 23:10, inside 22:00-07:00
    leak = await _case(loaded, "water-leak")  # urgent, ack within 10 minutes
    clock.now = datetime(2026, 11, 25, 23, 15, tzinfo=SHANGHAI).astimezone(UTC)
    assert await run_due(loaded) == {Step.WAIT: 1, Step.REMIND: 1}
    assert await _kinds(loaded, leak) == ["reported", "routed", "reminded"]
    await lifecycle.acknowledge(loaded, number=leak, actor=Actor(MANAGER, Channel.TELEGRAM))
    async with loaded.db.reading() as session:
        held = await session.get(Case, parcels)
    assert held is not None
    assert held.next_due_at is not None
    assert held.next_due_at.astimezone(SHANGHAI) == datetime(2026, 11, 26, 7, 0, tzinfo=SHANGHAI)
    clock.now = datetime(2026, 11, 26, 6, 59, tzinfo=SHANGHAI).astimezone(UTC)
    assert await run_due(loaded) == {}  # a minute early: still held
    assert await _kinds(loaded, parcels) == ["reported", "routed"]
    clock.now = datetime(2026, 11, 26, 7, 0, tzinfo=SHANGHAI).astimezone(UTC)
    assert await run_due(loaded) == {Step.REMIND: 1}
    assert await _kinds(loaded, parcels) == ["reported", "routed", "reminded"]


async def test_a_working_days_category_skips_the_weekend(
    loaded: ServiceContext, clock: Clock
) -> None:
    clock.now = datetime(2026, 11, 27, 10, 0, tzinfo=SHANGHAI).astimezone(UTC)  # a Friday
    bench = await _case(loaded, "broken-facility")  # working days, 72 h to resolve
    parcels = await _case(loaded, "parcels")  # calendar days
    async with loaded.db.reading() as session:
        due = {
            n: c.resolve_due_at.astimezone(SHANGHAI)
            for n in (bench, parcels)
            if (c := await session.get(Case, n)) is not None
        }
    assert due[bench] == datetime(2026, 12, 2, 10, 0, tzinfo=SHANGHAI)  # Wednesday
    assert due[parcels] == datetime(2026, 11, 30, 10, 0, tzinfo=SHANGHAI)  # Monday


@pytest.mark.skipif(not POSTGRES_URL, reason="set WOLAIBAN_TEST_POSTGRES_URL")
async def test_three_sweepers_step_each_of_a_thousand_cases_once(
    loaded: ServiceContext, clock: Clock
) -> None:
    if loaded.db.is_sqlite:
        pytest.skip("one sweeper on SQLite (the lease); several instances need PostgreSQL")
    due = clock.now - timedelta(minutes=1)
    async with loaded.db.transaction() as session:
        template = await session.get(Case, await _case(loaded))
        assert template is not None
        for _ in range(999):
            session.add(
                Case(
                    **template.model_dump(exclude={"number"}),
                )
            )
    async with loaded.db.transaction() as session:
        for case in (await session.exec(select(Case))).all():
            case.next_due_at = due
            session.add(case)
    url = loaded.db.url
    args = loaded.db.engine.url.query  # the test schema rides on connect_args, not the URL
    del args
    search_path = await _search_path(loaded)
    sweepers = [
        ServiceContext(
            channels=BOOK,
            db=open_database(url, connect_args={"server_settings": {"search_path": search_path}}),
            clock=clock,
        )
        for _ in range(3)
    ]
    try:
        results = await asyncio.gather(*(run_due(s, limit=2000) for s in sweepers))
        # and the morning digest, tried by all three for every staff member: once each
        digests = await asyncio.gather(
            *(send_digest(s, person_id=p) for s in sweepers for p in ("liubo", "suxinghua"))
        )
    finally:
        for s in sweepers:
            await s.db.dispose()
    assert sum(r.get(Step.REMIND, 0) for r in results) == 1000
    assert all(r.get(Step.REMIND, 0) > 0 for r in results)  # the work was shared
    async with loaded.db.reading() as session:
        reminded = (
            await session.exec(select(CaseEvent.case_number).where(CaseEvent.kind == "reminded"))
        ).all()
    assert len(reminded) == 1000
    assert len(set(reminded)) == 1000
    assert sum(d is not None for d in digests) == 2
    async with loaded.db.reading() as session:
        texts = (
            await session.exec(
                select(OutboxMessage.person_id).where(
                    col(OutboxMessage.idempotency_key).startswith("digest:"),
                    col(OutboxMessage.photo).is_(None),
                )
            )
        ).all()
    assert sorted(texts) == ["liubo", "suxinghua"]


async def _search_path(ctx: ServiceContext) -> str:
    from sqlalchemy import text

    async with ctx.db.reading() as session:
        return str((await session.exec(text("SHOW search_path"))).one()[0])  # type: ignore[call-overload]
