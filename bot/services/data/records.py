"""The records that stay after an erase, without the person: their cases (category, community,
place, dates, rating and status kept; texts cleaned), the cases' events, the messages about them
or to them (texts cleaned, addresses cleared, those still waiting cancelled); their photos go."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement
from sqlalchemy.orm import defer
from sqlmodel import and_, col, delete, func, or_, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.data.scrub import Scrubber
from db.models import (
    WAITING,
    Case,
    CaseEvent,
    CasePhoto,
    Open311Request,
    OutboxMessage,
    OutboxStatus,
)

CANCELLED = "erased: nothing more is sent to them"  # the cancelled messages' last_error
# Past this many messages read ahead, the write finds them again itself (a query's bound values
# stay well under SQLite's limit).
MAX_SEEN = 5000


@dataclass(frozen=True, slots=True)
class Seen:
    """The messages to a person as read before the erase's write (``seen_messages``): their ids,
    and the newest message then. On SQLite rows are numbered in commit order (one writer at a
    time), so the write reads these and the ones after, from the key, instead of the whole
    outbox — a scan that would hold every other writer back."""

    ids: frozenset[str]
    addresses: frozenset[str]
    rows: tuple[int, ...]
    newest: int

    def covers(self, ids: Sequence[str], addresses: Sequence[str]) -> bool:
        """True when it was read for (at least) these ids and addresses."""
        return self.ids >= set(ids) and self.addresses >= set(addresses)


def _to_them(ids: Sequence[str], addresses: Sequence[str]) -> ColumnElement[bool]:
    return or_(col(OutboxMessage.person_id).in_(ids), col(OutboxMessage.address).in_(addresses))


async def seen_messages(
    session: AsyncSession, ids: Sequence[str], addresses: Sequence[str]
) -> Seen | None:
    """Read ahead the messages to them (in a read transaction); None when there are too many."""
    rows = (await session.exec(select(OutboxMessage.id).where(_to_them(ids, addresses)))).all()
    if len(rows) > MAX_SEEN:
        return None
    newest = (await session.exec(select(func.max(OutboxMessage.id)))).one()
    found = tuple(r for r in rows if r is not None)
    return Seen(frozenset(ids), frozenset(addresses), found, int(newest or 0))


async def contact_phones(session: AsyncSession, ids: Sequence[str]) -> list[str]:
    """The phones Open311 clients gave as the contact of the cases these people reported (on
    each case's events' data: ``contact_phone``)."""
    query = (
        select(CaseEvent.data)
        .join(Case, col(Case.number) == col(CaseEvent.case_number))
        .where(col(Case.resident_id).in_(ids))
    )
    found = [data.get("contact_phone") for data in (await session.exec(query)).all()]
    return sorted({phone for phone in found if isinstance(phone, str) and phone})


@dataclass(slots=True)
class Rewritten:
    """What the rewrite of the remaining records did, in counts, for the person at these."""

    ids: frozenset[str]
    addresses: frozenset[str]
    cases: int = 0  # cases they reported, kept without them
    photos: int = 0  # photos of those cases, deleted with their bytes
    messages: int = 0  # messages to them, cleaned
    cancelled: int = 0  # of those, the ones still waiting: never sent


async def rewrite_records(
    session: AsyncSession,
    *,
    ids: Sequence[str],
    addresses: Sequence[str],
    scrub: Scrubber,
    seen: Seen | None = None,
) -> Rewritten:
    """Clean every record that names the person known by ``ids`` at ``addresses`` (``seen``:
    the messages to them read ahead, on SQLite)."""
    done = Rewritten(ids=frozenset(ids), addresses=frozenset(addresses))
    reported, handled = await _cases(session, ids, scrub)
    done.cases = len(reported)
    numbers = sorted({*reported, *handled})
    await _events(session, numbers, ids, scrub)
    done.photos = await _photos(session, reported)
    to_them = _to_them(ids, addresses)
    if seen is not None and seen.covers(ids, addresses):
        later = and_(col(OutboxMessage.id) > seen.newest, to_them)
        to_them = or_(col(OutboxMessage.id).in_(seen.rows), later)
    await _messages(session, numbers, reported, to_them, scrub, done)
    return done


async def _cases(
    session: AsyncSession, ids: Sequence[str], scrub: Scrubber
) -> tuple[list[int], list[int]]:
    """Their cases take the new id; the cases' texts lose them. The numbers of the cases they
    reported, and of those they held (a former manager of the directory)."""
    query = select(Case).where(or_(col(Case.resident_id).in_(ids), col(Case.manager_id).in_(ids)))
    reported, handled = [], []
    for case in (await session.exec(query.order_by(col(Case.number)))).all():
        assert case.number is not None  # a stored case has its number
        if case.resident_id in ids:
            case.resident_id = scrub.new_id
            reported.append(case.number)
        if case.manager_id in ids:
            case.manager_id = scrub.new_id
            handled.append(case.number)
        case.description = scrub.text(case.description)
        case.location = scrub.text(case.location)
        session.add(case)
    if reported:
        # What an Open311 client said of the reporter (their account) and their photo's address.
        await session.exec(
            update(Open311Request)
            .where(col(Open311Request.case_number).in_(reported))
            .values(account_id=None, media_url=None)
        )
    return reported, handled


async def _events(
    session: AsyncSession, numbers: Sequence[int], ids: Sequence[str], scrub: Scrubber
) -> None:
    """The events of those cases, and any event they made: kinds and times kept, the actor
    renamed, notes and data cleaned (an Open311 filing's contact phone among them)."""
    query = select(CaseEvent).where(
        or_(col(CaseEvent.case_number).in_(numbers), col(CaseEvent.actor_id).in_(ids))
    )
    for event in (await session.exec(query)).all():
        if event.actor_id in ids:
            event.actor_id = scrub.new_id
        event.note = scrub.text(event.note)
        event.data = scrub.json(event.data)
        session.add(event)


async def _photos(session: AsyncSession, reported: Sequence[int]) -> int:
    """Delete the photos of the cases they reported (bytes and a channel's file ids alike)."""
    if not reported:
        return 0
    gone = await session.exec(delete(CasePhoto).where(col(CasePhoto.case_number).in_(reported)))
    return int(gone.rowcount or 0)


async def _messages(
    session: AsyncSession,
    numbers: Sequence[int],
    reported: Sequence[int],
    to_them: ColumnElement[bool],
    scrub: Scrubber,
    done: Rewritten,
) -> None:
    """Messages about those cases lose the person from their texts; messages to them (matching
    ``to_them``) also lose their address, and those still waiting are cancelled; none carries
    their photos."""
    query = (
        select(OutboxMessage)
        .where(or_(col(OutboxMessage.case_number).in_(numbers), to_them))
        .options(defer(OutboxMessage.photo))  # type: ignore[arg-type]
    )
    ids, addresses = done.ids, done.addresses
    for row in (await session.exec(query)).all():
        theirs = row.person_id in ids or row.address in addresses
        row.text = scrub.text(row.text)
        row.params = scrub.json(row.params)
        row.buttons = scrub.json(row.buttons)
        row.last_error = scrub.text(row.last_error) if row.last_error else row.last_error
        if scrub.text(row.idempotency_key) != row.idempotency_key:
            # Unique per row whatever ids the old key named (an alias's and the person's alike).
            row.idempotency_key = f"erased:{scrub.new_id}:{row.id}"
        if row.case_number in reported:
            row.photos = []
        waiting = row.status in WAITING
        if waiting and (theirs or (not row.text and not row.photos)):
            # Nothing more goes to them; an album of their photos alone has nothing left to send.
            row.status, row.last_error, row.claimed_by = OutboxStatus.SUPPRESSED, CANCELLED, None
            done.cancelled += 1
        if theirs:
            row.person_id = scrub.new_id if row.person_id in ids else row.person_id
            # The provider's ids of the message and of the text it answered lead back to
            # them in the provider's own records.
            row.address, row.reply_to, row.provider_message_id = "", None, None
            done.messages += 1
        session.add(row)
