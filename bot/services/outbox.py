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

from core.buttons import Button
from db import queries
from db.models import WAITING, OptOut, OutboxMessage, OutboxStatus

from . import identities
from .context import ServiceContext
from .deliveries import opt_out, reconcile
from .notify import Outbox
from .photos import Attachment, attachments

GIVEN_UP = (OutboxStatus.DEAD,)
_SUPPRESSED = OutboxStatus.SUPPRESSED
CLAIMABLE = WAITING


@dataclass(frozen=True, slots=True)
class Claimed:
    """A message to send now; ``edit_message_id`` set when it edits one sent before."""

    id: int
    channel: str
    person_id: str | None
    address: str
    text: str
    buttons: list[list[Button]]
    urgent: bool
    attempts: int
    edit_message_id: str | None
    language: str = "zh"
    photo: bytes | None = None
    # The answer to the inbound being handled when it was written (to the person who acted), and
    # when it was written: the messages written with it, to others, go once it has gone.
    answer: bool = False
    written_at: datetime | None = None
    # The case photos it carries (a card as a caption, or the album before a card), and for an
    # edit whether the message it changes is a photo's caption (edited as one).
    photos: tuple[Attachment, ...] = ()
    caption: bool = False


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
    channel: str,
    limit: int,
    lease: timedelta,
    hold_until: datetime | None = None,
    holder: str | None = None,
    gone: Callable[[str], bool] | None = None,
) -> list[Claimed]:
    """Claim up to ``limit`` due messages of ``channel``, oldest first, for ``lease``, as
    ``holder``; messages claimed by a holder that ``gone`` says died are due at once.

    A message to an address that opted out is suppressed (recorded, never sent); with ``hold_until``
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
                OutboxMessage.channel == channel,
                col(OutboxMessage.status).in_(CLAIMABLE),
                due,
            )
            .order_by(col(OutboxMessage.id))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        for row in (await session.exec(query)).all():
            row.claimed_by = None  # until it is claimed below: a row held back is nobody's
            if await session.get(OptOut, row.address) is not None:
                row.status, row.last_error = OutboxStatus.SUPPRESSED, "the address opted out (STOP)"
                session.add(row)
                continue
            if hold_until is not None and not row.urgent:
                row.next_attempt_at = hold_until
                session.add(row)
                continue
            edit_id = await _edit_target(session, row)
            if row.edit_of is not None and edit_id is None:
                continue
            carried: tuple[Attachment, ...] = ()
            if row.photos and row.case_number is not None:
                carried = await attachments(session, row.case_number, row.photos)
            row.status, row.claimed_by = OutboxStatus.SENDING, holder
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
                    buttons=row.button_rows(),
                    urgent=row.urgent,
                    attempts=row.attempts,
                    edit_message_id=edit_id,
                    language=row.language,
                    photo=row.photo,
                    answer=row.reply_to is not None,
                    written_at=row.created_at,
                    photos=carried,
                    caption=await _edits_caption(session, row),
                )
            )
    return claimed


async def _holders(session: AsyncSession, channel: str, now: datetime) -> list[str]:
    """Who holds claims of ``channel`` that have not run out."""
    query = (
        select(OutboxMessage.claimed_by)
        .where(
            OutboxMessage.channel == channel,
            OutboxMessage.status == OutboxStatus.SENDING,
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
            col(OutboxMessage.id).in_(ids), OutboxMessage.status == OutboxStatus.SENDING
        )
        for row in (await session.exec(query)).all():
            row.next_attempt_at = until
            session.add(row)


async def _edit_target(session: AsyncSession, row: OutboxMessage) -> str | None:
    """The sent message an edit row changes, or None to leave the row for now.

    An edit waits, unclaimed and with no delay of its own, until its card has gone out (so it is
    claimed at the first claim after, behind the card in the chat's order); it is dropped with
    its card, and retired when a newer edit of the card exists (sent after that one, it would
    put the older status back on the reader's screen).
    """
    if row.edit_of is None:
        return None
    newer = select(OutboxMessage.id).where(
        OutboxMessage.edit_of == row.edit_of,
        col(OutboxMessage.id) > row.id,
        OutboxMessage.status != OutboxStatus.SUPERSEDED,
    )
    if (await session.exec(newer.limit(1))).first() is not None:
        row.status, row.last_error = OutboxStatus.SUPERSEDED, "a newer edit replaced it"
        session.add(row)
        return None
    original = await session.get(OutboxMessage, row.edit_of)
    if original is not None and original.provider_message_id:
        return original.provider_message_id
    if original is None or original.status in GIVEN_UP or original.status == _SUPPRESSED:
        row.status, row.last_error = OutboxStatus.DEAD, "the message to edit was never delivered"
        session.add(row)
    return None


async def _edits_caption(session: AsyncSession, row: OutboxMessage) -> bool:
    """True when ``row`` edits a card that went out as a photo with the card as its caption."""
    if row.edit_of is None:
        return False
    original = await session.get(OutboxMessage, row.edit_of)  # loaded by _edit_target already
    return original is not None and bool(original.photos) and bool(original.text)


async def record_sent(ctx: ServiceContext, *, sent: Mapping[int, str]) -> None:
    """The provider accepted these messages (outbox id -> the provider's message id)."""
    if not sent:
        return
    now = ctx.clock()
    async with ctx.db.transaction() as session:
        # A delivery report for one of these may be arriving right now: one waits for the other.
        await queries.serialize_on(session=session, keys=list(sent.values()))
        query = select(OutboxMessage).where(col(OutboxMessage.id).in_(sorted(sent)))
        rows = (await session.exec(query)).all()
        for row in rows:
            assert row.id is not None
            row.status, row.sent_at, row.last_error = OutboxStatus.SENT, now, None
            # An edit keeps pointing at the message it changed; the id is what the person has.
            row.provider_message_id = sent[row.id]
            session.add(row)
        await reconcile(session, rows, now)


async def record_retry(
    ctx: ServiceContext, *, message_id: int, at: datetime, error: str, count: bool
) -> None:
    """Try again at ``at``; ``count`` when it was a failure (a flood pause is not)."""
    async with ctx.db.transaction() as session:
        row = await session.get(OutboxMessage, message_id)
        if row is None:
            return
        row.status = OutboxStatus.FAILED if count else OutboxStatus.PENDING
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
    """Give up on a message. ``unreachable``: the person cannot get messages on this channel
    (blocked the bot, the chat is gone) — mark their address so and queue the same text on the
    next channel of theirs that can reach them. ``opted_out``: the address unsubscribed —
    remember it, so nothing more is tried there."""
    now = ctx.clock()
    async with ctx.db.transaction() as session:
        row = await session.get(OutboxMessage, message_id)
        if row is None:
            return None
        row.status, row.last_error = (
            (OutboxStatus.SUPPRESSED if opted_out else OutboxStatus.DEAD),
            error,
        )
        session.add(row)
        if opted_out:
            await opt_out(session, row.address, now)
        if not unreachable or row.person_id is None:
            return None
        await identities.mark_unreachable(session, person_id=row.person_id, channel=row.channel)
        person = await queries.get_person(session=session, person_id=row.person_id)
        if person is None or row.edit_of is not None or (row.photos and not row.text):
            return None  # an edit, or an album: nothing to say elsewhere (the card falls back)
        outbox = Outbox(session, now, ctx.default_language, ctx.channels)
        other = await outbox.address_of(person)
        if other is None or other.channel == row.channel:
            return None
        fallback = outbox.like(
            row,
            key=f"{row.idempotency_key}:fallback-{other.channel}",
            channel=other.channel,
            address=other.address,
            person_id=person.id,
        )
        session.add(fallback)
        return fallback


async def answers_to(ctx: ServiceContext, inbound_key: str, channel: str) -> list[OutboxMessage]:
    """The messages that answer one inbound on ``channel`` (a channel answering in its reply)."""
    async with ctx.db.reading() as session:
        query = (
            select(OutboxMessage)
            .where(OutboxMessage.reply_to == inbound_key, OutboxMessage.channel == channel)
            .order_by(col(OutboxMessage.id))
        )
        return list((await session.exec(query)).all())
