"""The outbox after a use case wrote to it: listing, claiming due messages, recording results.

Delivery claims rows under a lease (``sending`` until ``next_attempt_at``): a process that dies
mid-send leaves rows that another claim picks up once the lease runs out, so nothing is lost and
at most the message in flight is sent twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.cases import Channel
from db import queries
from db.models import OptOut, OutboxMessage

from .context import ServiceContext

WAITING = ("pending", "sending", "failed")
GIVEN_UP = ("dead",)
CLAIMABLE = ("pending", "sending", "failed")


@dataclass(frozen=True, slots=True)
class Claimed:
    """A message to send now; ``edit_message_id`` set when it edits one sent before."""

    id: int
    channel: str
    person_id: str | None
    address: str
    text: str
    buttons: list[list[dict[str, str]]]
    urgent: bool
    attempts: int
    edit_message_id: str | None
    language: str = "zh"
    photo: bytes | None = None


async def outbox_messages(
    ctx: ServiceContext, *, dead: bool = False, limit: int = 200
) -> Sequence[OutboxMessage]:
    """Messages waiting (oldest first), or with ``dead`` those given up on."""
    statuses = GIVEN_UP if dead else WAITING
    query = (
        select(OutboxMessage)
        .where(col(OutboxMessage.status).in_(statuses))
        .order_by(col(OutboxMessage.id))
        .limit(limit)
    )
    async with ctx.db.reading() as session:
        return (await session.exec(query)).all()


async def claim_due(
    ctx: ServiceContext,
    *,
    channel: Channel,
    limit: int,
    lease: timedelta,
    hold_until: datetime | None = None,
    holder: str | None = None,
    gone: Callable[[str], bool] | None = None,
) -> list[Claimed]:
    """Claim up to ``limit`` due messages of ``channel``, oldest first, for ``lease``, as
    ``holder``; messages claimed by a holder that ``gone`` says died are due at once.

    SMS to a number that opted out is suppressed (recorded, never sent); with ``hold_until``
    (quiet hours), non-urgent messages wait until then.
    """
    now = ctx.clock()
    due = col(OutboxMessage.next_attempt_at) <= now
    claimed: list[Claimed] = []
    async with ctx.db.transaction() as session:
        dead: list[str] = []
        if gone is not None:
            dead = [h for h in await _holders(session, channel, now) if h != holder and gone(h)]
        if dead:
            due = or_(due, col(OutboxMessage.claimed_by).in_(dead))
        query = (
            select(OutboxMessage)
            .where(
                OutboxMessage.channel == channel.value,
                col(OutboxMessage.status).in_(CLAIMABLE),
                due,
            )
            .order_by(col(OutboxMessage.id))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        for row in (await session.exec(query)).all():
            row.claimed_by = None  # until it is claimed below: a row held back is nobody's
            if channel is Channel.SMS and await session.get(OptOut, row.address) is not None:
                row.status, row.last_error = "suppressed", "the number opted out (STOP)"
                session.add(row)
                continue
            if hold_until is not None and not row.urgent:
                row.next_attempt_at = hold_until
                session.add(row)
                continue
            edit_id = await _edit_target(session, row, now)
            if row.edit_of is not None and edit_id is None:
                continue
            row.status, row.claimed_by = "sending", holder
            row.next_attempt_at = now + lease
            session.add(row)
            assert row.id is not None
            claimed.append(
                Claimed(
                    id=row.id,
                    channel=row.channel,
                    person_id=row.person_id,
                    address=row.address,
                    text=row.text,
                    buttons=row.buttons,
                    urgent=row.urgent,
                    attempts=row.attempts,
                    edit_message_id=edit_id,
                    language=row.language,
                    photo=row.photo,
                )
            )
    return claimed


async def _holders(session: AsyncSession, channel: Channel, now: datetime) -> list[str]:
    """Who holds claims of ``channel`` that have not run out."""
    query = (
        select(OutboxMessage.claimed_by)
        .where(
            OutboxMessage.channel == channel.value,
            OutboxMessage.status == "sending",
            col(OutboxMessage.next_attempt_at) > now,
            col(OutboxMessage.claimed_by).is_not(None),
        )
        .distinct()
    )
    return [h for h in (await session.exec(query)).all() if h is not None]


async def renew_claims(ctx: ServiceContext, *, ids: Sequence[int], lease: timedelta) -> None:
    """Extend the lease of messages this process holds and has not sent yet."""
    if not ids:
        return
    until = ctx.clock() + lease
    async with ctx.db.transaction() as session:
        query = select(OutboxMessage).where(
            col(OutboxMessage.id).in_(ids), OutboxMessage.status == "sending"
        )
        for row in (await session.exec(query)).all():
            row.next_attempt_at = until
            session.add(row)


async def _edit_target(session: AsyncSession, row: OutboxMessage, now: datetime) -> str | None:
    """The sent message an edit row changes; an edit waits for it, and is dropped with it."""
    if row.edit_of is None:
        return None
    original = await session.get(OutboxMessage, row.edit_of)
    if original is not None and original.provider_message_id:
        return original.provider_message_id
    if original is None or original.status == "dead":
        row.status, row.last_error = "dead", "the message to edit was never delivered"
    else:
        row.next_attempt_at = now + timedelta(seconds=1)
    session.add(row)
    return None


async def record_sent(ctx: ServiceContext, *, sent: Mapping[int, str]) -> None:
    """The provider accepted these messages (outbox id -> the provider's message id)."""
    if not sent:
        return
    now = ctx.clock()
    async with ctx.db.transaction() as session:
        query = select(OutboxMessage).where(col(OutboxMessage.id).in_(sorted(sent)))
        for row in (await session.exec(query)).all():
            assert row.id is not None
            row.status, row.sent_at, row.last_error = "sent", now, None
            # An edit keeps pointing at the message it changed; the id is what the person has.
            row.provider_message_id = sent[row.id]
            session.add(row)


async def record_retry(
    ctx: ServiceContext, *, message_id: int, at: datetime, error: str, count: bool
) -> None:
    """Try again at ``at``; ``count`` when it was a failure (a flood pause is not)."""
    async with ctx.db.transaction() as session:
        row = await session.get(OutboxMessage, message_id)
        if row is None:
            return
        row.status = "failed" if count else "pending"
        row.attempts += 1 if count else 0
        row.next_attempt_at, row.last_error = at, error
        session.add(row)


async def record_dead(
    ctx: ServiceContext,
    *,
    message_id: int,
    error: str,
    unreachable: bool,
    opted_out: bool = False,
) -> OutboxMessage | None:
    """Give up on a message. ``unreachable``: the person blocked the bot or the chat is gone —
    mark them so and, when they have a phone, queue the same text by SMS instead. ``opted_out``:
    the number unsubscribed (Twilio's 21610) — remember it, so nothing more is tried."""
    now = ctx.clock()
    async with ctx.db.transaction() as session:
        row = await session.get(OutboxMessage, message_id)
        if row is None:
            return None
        row.status, row.last_error = ("suppressed" if opted_out else "dead"), error
        session.add(row)
        if opted_out and await session.get(OptOut, row.address) is None:
            session.add(OptOut(phone=row.address, at=now, source="provider"))
        if not unreachable or row.person_id is None or row.channel != Channel.TELEGRAM:
            return None
        person = await queries.get_person(session=session, person_id=row.person_id)
        if person is None:
            return None
        person.telegram_unreachable = True
        session.add(person)
        if not person.phone or row.edit_of is not None:
            return None
        fallback = OutboxMessage(
            idempotency_key=f"{row.idempotency_key}:sms-fallback",
            channel=Channel.SMS.value,
            person_id=person.id,
            address=person.phone,
            case_number=row.case_number,
            template=row.template,
            params=row.params,
            language=row.language,
            text=row.text,
            buttons=row.buttons,
            urgent=row.urgent,
            next_attempt_at=now,
            created_at=now,
        )
        session.add(fallback)
        return fallback


# Delivery states in the order they happen; the two failures are as final as "delivered".
_PROGRESS = {
    "accepted": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "undelivered": 4,
    "failed": 4,
    "read": 5,
}
UNDELIVERED_CODES = frozenset({"30003", "30005", "30006", "30007"})
OPTED_OUT_CODE = "21610"


async def record_delivery(
    ctx: ServiceContext, *, provider_id: str, status: str, error_code: str | None
) -> bool:
    """A provider's delivery report; the state only moves forward, whatever order reports come
    in. False when no message has that id."""
    async with ctx.db.transaction() as session:
        query = select(OutboxMessage).where(OutboxMessage.provider_message_id == provider_id)
        row = (await session.exec(query.with_for_update())).first()
        if row is None:
            return False
        if error_code in UNDELIVERED_CODES:
            status = "undelivered"  # the handset or carrier refused it: not worth retrying
        rank = _PROGRESS.get(status)
        current = _PROGRESS.get(row.delivery_status or "", -1)
        if rank is not None and rank > current:
            row.delivery_status = status
        if error_code:
            row.last_error = f"{status} (error {error_code})"
            if error_code == OPTED_OUT_CODE and await session.get(OptOut, row.address) is None:
                session.add(OptOut(phone=row.address, at=ctx.clock(), source="provider"))
        session.add(row)
        return True
