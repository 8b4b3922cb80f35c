"""Readiness and metrics with an injected clock: a late clock step or a stuck outbox makes the
bot not ready, and it is ready again once the work is done; held work never counts."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import text

from bot.delivery.claims import claim_due
from bot.delivery.results import record_dead, record_retry, record_sent
from bot.services.cases import lifecycle
from bot.services.cases.report import NewReport, report
from bot.services.cases.timers import run_due
from bot.services.health import metrics_snapshot, readiness
from bot.services.unit.context import Actor, ServiceContext
from bot.services.unit.reach import UNTIL_THEY_WRITE
from core.cases import Channel
from core.due import Step
from db.models import Case, OutboxMessage
from tests.conftest import Clock

SHANGHAI = ZoneInfo("Asia/Shanghai")
MANAGER = Actor("mgr-jzsj-south", Channel.TELEGRAM)
LEASE = timedelta(minutes=5)


async def new_case(ctx: ServiceContext, category: str = "parcels") -> int:
    """A case of r-jzsj-172 in jzsj-south, through the report service."""
    case = await report(
        ctx,
        resident_id="r-jzsj-172",
        channel=Channel.TELEGRAM,
        new=NewReport("jzsj-south", category, "快递堆在路上", location="172"),
    )
    assert case.number is not None
    return case.number


async def deliver_all(ctx: ServiceContext) -> int:
    """Send every due outbox message as a dispatcher would, polling again a second later for
    the card edits that wait for their original to be sent."""
    sent, passes = 0, 0
    while True:
        polling = replace(ctx, clock=Clock(ctx.clock() + timedelta(seconds=passes)))
        claimed = [
            row
            for channel in (Channel.TELEGRAM, Channel.SMS)
            for row in await claim_due(polling, channel=channel, limit=1000, lease=LEASE)
        ]
        for row in claimed:
            await record_sent(ctx, sent={row.id: f"p-{row.id}"})
        if not claimed:
            return sent
        sent, passes = sent + len(claimed), passes + 1


async def due_at(ctx: ServiceContext, number: int) -> datetime:
    """When the clock next looks at case ``number``."""
    async with ctx.db.reading() as session:
        case = await session.get(Case, number)
    assert case is not None
    assert case.next_due_at is not None
    return case.next_due_at


async def add_message(ctx: ServiceContext, key: str, *, at: datetime) -> None:
    """An outbox row written now, to be sent at ``at``."""
    async with ctx.db.transaction() as session:
        session.add(
            OutboxMessage(
                idempotency_key=key,
                channel=Channel.SMS.value,
                address="+8613800000000",
                template="case.reminder",
                text="提醒",
                next_attempt_at=at,
                created_at=ctx.clock(),
            )
        )


async def test_an_escalation_held_back_past_five_minutes_then_run(
    loaded: ServiceContext, clock: Clock
) -> None:
    number = await new_case(loaded)
    await deliver_all(loaded)
    assert (await readiness(loaded)).ready
    for _ in range(2):  # two reminders first, then the escalation is the next step
        clock.now = await due_at(loaded, number)
        assert await run_due(loaded) == {Step.REMIND: 1}
        await deliver_all(loaded)
    clock.now = await due_at(loaded, number) + timedelta(minutes=4)
    assert (await readiness(loaded)).ready  # late, but within the grace
    clock.advance(minutes=2)
    state = await readiness(loaded)
    assert not state.ready
    assert state.database == "ok"
    assert (state.overdue_steps, state.oldest_overdue_seconds) == (1, 360.0)
    assert state.outbox_waiting == 0
    assert len(state.reasons) == 1
    assert f"#{number}" in state.reasons[0]
    assert await run_due(loaded) == {Step.ESCALATE: 1}
    state = await readiness(loaded)
    assert state.ready, state.reasons
    assert (state.overdue_steps, state.oldest_overdue_seconds, state.reasons) == (0, None, [])


async def test_a_step_held_by_quiet_hours_is_not_overdue(
    loaded: ServiceContext, clock: Clock
) -> None:
    clock.now = datetime(2026, 11, 25, 22, 40, tzinfo=SHANGHAI).astimezone(UTC)
    number = await new_case(loaded)  # its reminder falls due at 23:10, inside quiet hours
    await deliver_all(loaded)
    clock.now = datetime(2026, 11, 25, 23, 15, tzinfo=SHANGHAI).astimezone(UTC)
    assert await run_due(loaded) == {Step.WAIT: 1}
    clock.now = datetime(2026, 11, 26, 3, 0, tzinfo=SHANGHAI).astimezone(UTC)
    assert (await readiness(loaded)).ready
    clock.now = datetime(2026, 11, 26, 7, 6, tzinfo=SHANGHAI).astimezone(UTC)
    state = await readiness(loaded)  # the hold is over and nobody ran the step
    assert (state.ready, state.overdue_steps, state.oldest_overdue_seconds) == (False, 1, 360.0)
    assert f"#{number}" in state.reasons[0]


async def test_an_unsent_message_due_three_minutes_ago_then_sent(
    loaded: ServiceContext, clock: Clock
) -> None:
    await new_case(loaded)
    clock.advance(minutes=1, seconds=59)
    assert (await readiness(loaded)).ready
    clock.advance(minutes=1, seconds=1)
    state = await readiness(loaded)
    assert not state.ready
    assert state.overdue_steps == 0
    assert state.outbox_waiting > 0
    assert state.oldest_unsent_seconds == 180.0
    assert len(state.reasons) == 1
    assert "outbox" in state.reasons[0]
    assert await deliver_all(loaded) == state.outbox_waiting
    state = await readiness(loaded)
    assert (state.ready, state.outbox_waiting, state.oldest_unsent_seconds) == (True, 0, None)


async def test_a_message_held_for_later_is_not_stuck(ctx: ServiceContext, clock: Clock) -> None:
    await add_message(ctx, "held", at=clock.now + timedelta(hours=8))  # SMS in quiet hours
    clock.advance(hours=8)
    assert (await readiness(ctx)).ready  # released just now: the dispatcher has its chance
    clock.advance(minutes=1)
    assert (await readiness(ctx)).ready
    clock.advance(minutes=1, seconds=1)
    state = await readiness(ctx)  # due two minutes and still not sent: delivery is stuck
    assert (state.ready, state.outbox_waiting) == (False, 1)
    assert state.oldest_unsent_seconds == 8 * 3600 + 121


async def test_a_message_in_flight_or_backing_off_is_not_stuck(
    ctx: ServiceContext, clock: Clock
) -> None:
    await add_message(ctx, "in-flight", at=clock.now)
    await add_message(ctx, "backing-off", at=clock.now)
    lease = timedelta(minutes=5)
    assert len(await claim_due(ctx, channel=Channel.SMS, limit=1, lease=lease)) == 1
    clock.advance(minutes=1)
    (failing,) = await claim_due(ctx, channel=Channel.SMS, limit=1, lease=lease)
    retry_at = clock.now + timedelta(minutes=10)
    await record_retry(ctx, message_id=failing.id, at=retry_at, error="timeout", count=True)
    clock.advance(minutes=3, seconds=59)
    assert (await readiness(ctx)).ready
    clock.advance(minutes=3)  # the lease ran out two minutes ago and nobody took the row back
    state = await readiness(ctx)
    assert (state.ready, state.outbox_waiting) == (False, 1)


async def test_a_database_error_is_not_ready(ctx: ServiceContext) -> None:
    async with ctx.db.transaction() as session:
        await session.exec(text("DROP TABLE outbox"))  # type: ignore[call-overload]
    state = await readiness(ctx)
    assert not state.ready
    assert state.database != "ok"
    assert state.reasons == ["database error"]


async def test_the_snapshot_counts(loaded: ServiceContext, clock: Clock) -> None:
    first, second = await new_case(loaded), await new_case(loaded)
    await lifecycle.acknowledge(loaded, number=second, actor=MANAGER)
    await deliver_all(loaded)
    clock.now = await due_at(loaded, first)
    assert await run_due(loaded) == {Step.REMIND: 1}
    (row,) = await claim_due(loaded, channel=Channel.TELEGRAM, limit=1, lease=timedelta(1))
    await record_dead(loaded, message_id=row.id, error="chat not found", unreachable=False)
    await add_message(loaded, "later", at=clock.now + timedelta(hours=1))
    clock.advance(seconds=30)
    snap = await metrics_snapshot(loaded)
    assert snap.cases["assigned"] == 1
    assert snap.cases["acknowledged"] == 1
    assert snap.cases["closed"] == 0
    assert (snap.reminders, snap.escalations) == (1, 0)
    # every channel that reaches people is reported, the empty ones as 0
    assert set(snap.dead) == set(loaded.channels.reach_order)
    assert snap.dead == dict.fromkeys(loaded.channels.reach_order, 0) | {"telegram": 1}
    assert snap.suppressed == dict.fromkeys(loaded.channels.reach_order, 0)
    assert snap.outbox_waiting["sms"] == 1
    assert snap.oldest_waiting_seconds is not None
    assert snap.oldest_waiting_seconds >= 30.0


async def test_a_message_waiting_for_its_reader_to_write_is_waiting_but_not_late(
    ctx: ServiceContext, clock: Clock
) -> None:
    # A reply window closed and the resident has no other channel: the message is kept until
    # they next write — for days, by design. It is counted, but neither /readyz nor the oldest
    # waiting age calls it stuck.
    await add_message(ctx, "until-they-write", at=UNTIL_THEY_WRITE)
    clock.advance(seconds=3 * 86_400)
    snap = await metrics_snapshot(ctx)
    assert snap.outbox_waiting["sms"] == 1
    assert snap.oldest_waiting_seconds is None
    state = await readiness(ctx)
    assert state.ready, state.reasons
