"""Is the bot keeping up? Readiness (database, overdue clock steps, outbox lag) and the numbers
``/metrics`` shows — all cheap aggregates over indexed columns."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import case, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.unit.context import ServiceContext
from bot.services.unit.reach import UNTIL_THEY_WRITE
from core.cases import EventKind, Status
from db.models import WAITING, Case, CaseEvent, OutboxMessage, OutboxStatus

# A step the clock should have taken this long ago means the scheduler is not running.
STEP_GRACE = timedelta(minutes=5)
# A message due this long and still not handed to its provider means delivery is stuck.
OUTBOX_GRACE = timedelta(minutes=2)

_TIMED = (Status.ASSIGNED.value, Status.ACKNOWLEDGED.value, Status.RESOLVED.value)
_DEAD, _SUPPRESSED = OutboxStatus.DEAD, OutboxStatus.SUPPRESSED


@dataclass(frozen=True, slots=True)
class Readiness:
    """What ``/readyz`` answers; ``reasons`` says why when not ``ready``."""

    ready: bool
    database: str
    overdue_steps: int = 0
    oldest_overdue_seconds: float | None = None
    outbox_waiting: int = 0
    oldest_unsent_seconds: float | None = None
    reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The counts ``/metrics`` exposes, read in one go."""

    cases: dict[str, int]
    outbox_waiting: dict[str, int]
    oldest_waiting_seconds: float | None
    reminders: int
    escalations: int
    dead: dict[str, int]
    suppressed: dict[str, int]


def _seconds(now: datetime, then: datetime | None) -> float | None:
    """Seconds from ``then`` to ``now`` (naive database times are UTC)."""
    if then is None:
        return None
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    return max((now - then).total_seconds(), 0.0)


async def readiness(ctx: ServiceContext) -> Readiness:
    """Ready unless the database fails, a clock step is 5 minutes late or delivery is stuck."""
    now = ctx.clock()
    try:
        async with ctx.db.reading() as session:
            steps, oldest_step, late_case = await _overdue_steps(session, now)
            waiting, oldest_unsent = await _stuck_outbox(session, now)
    except Exception as error:  # any database failure means "not ready", with its reason
        return Readiness(False, str(error) or type(error).__name__, reasons=["database error"])
    reasons: list[str] = []
    late = _seconds(now, oldest_step)
    if steps:
        reasons.append(f"{steps} clock step(s) overdue; case #{late_case} is {late:.0f}s late")
    unsent = _seconds(now, oldest_unsent)
    if waiting:
        reasons.append(f"{waiting} outbox message(s) due but unsent; oldest is {unsent:.0f}s old")
    return Readiness(
        ready=not reasons,
        database="ok",
        overdue_steps=steps,
        oldest_overdue_seconds=late,
        outbox_waiting=waiting,
        oldest_unsent_seconds=unsent,
        reasons=reasons,
    )


async def _overdue_steps(
    session: AsyncSession, now: datetime
) -> tuple[int, datetime | None, int | None]:
    """Cases whose timer ran out more than ``STEP_GRACE`` ago: count, oldest due, its number.

    A step held back by quiet hours has its timer at the end of the quiet window, in the
    future, so it is not counted."""
    overdue = (col(Case.status).in_(_TIMED), col(Case.next_due_at) < now - STEP_GRACE)
    query = select(func.count(), func.min(Case.next_due_at)).where(*overdue)
    count, oldest = (await session.exec(query)).one()
    if not count:
        return 0, None, None
    first = select(Case.number).where(*overdue).order_by(col(Case.next_due_at)).limit(1)
    return int(count), oldest, (await session.exec(first)).first()


async def _stuck_outbox(session: AsyncSession, now: datetime) -> tuple[int, datetime | None]:
    """Messages waiting, older than ``OUTBOX_GRACE`` and due for longer than it: count, oldest.

    A message held for later (quiet hours, a retry's backoff, a send in flight under its lease)
    has ``next_attempt_at`` in the future and is not counted; neither is one just released."""
    before = now - OUTBOX_GRACE
    query = select(func.count(), func.min(OutboxMessage.created_at)).where(
        col(OutboxMessage.status).in_(WAITING),
        col(OutboxMessage.next_attempt_at) <= before,
        col(OutboxMessage.created_at) < before,
    )
    count, oldest = (await session.exec(query)).one()
    return int(count), oldest


async def metrics_snapshot(ctx: ServiceContext) -> Snapshot:
    """Cases by status, the outbox by channel and state, reminders and escalations sent."""
    now = ctx.clock()
    cases = dict.fromkeys((s.value for s in Status), 0)
    sending = ctx.channels.reach_order
    waiting, dead, suppressed = (dict.fromkeys(sending, 0) for _ in range(3))
    oldest: datetime | None = None
    kinds = (EventKind.REMINDED.value, EventKind.ESCALATED.value)
    events = dict.fromkeys(kinds, 0)
    async with ctx.db.reading() as session:
        by_status = select(Case.status, func.count()).group_by(col(Case.status))
        for status, count in (await session.exec(by_status)).all():
            cases[status] = int(count)
        outbox = (
            select(
                OutboxMessage.status,
                OutboxMessage.channel,
                func.count(),
                # A message kept until its reader next writes (a reply window closed) may wait
                # for weeks by design: it is counted as waiting, but it is not late.
                func.min(
                    case(
                        (
                            col(OutboxMessage.next_attempt_at) < UNTIL_THEY_WRITE,
                            OutboxMessage.created_at,
                        ),
                        else_=None,
                    )
                ),
            )
            .where(col(OutboxMessage.status).in_((*WAITING, _DEAD, _SUPPRESSED)))
            .group_by(col(OutboxMessage.status), col(OutboxMessage.channel))
        )
        for status, channel, count, first in (await session.exec(outbox)).all():
            if status in WAITING:
                waiting[channel] = waiting.get(channel, 0) + int(count)
                oldest = first if oldest is None or (first and first < oldest) else oldest
            else:
                target = dead if status == _DEAD else suppressed
                target[channel] = target.get(channel, 0) + int(count)
        sent = (
            select(CaseEvent.kind, func.count())
            .where(col(CaseEvent.kind).in_(kinds))
            .group_by(col(CaseEvent.kind))
        )
        for kind, count in (await session.exec(sent)).all():
            events[kind] = int(count)
    return Snapshot(
        cases=cases,
        outbox_waiting=waiting,
        oldest_waiting_seconds=_seconds(now, oldest),
        reminders=events[EventKind.REMINDED.value],
        escalations=events[EventKind.ESCALATED.value],
        dead=dead,
        suppressed=suppressed,
    )
