"""What a case sent to whom, as the console's case page tells it: one entry per message, a card's
edits under the card (each with the status it showed), and the people named, with the
addresses their names may hold so the page can mask them. Read only."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import tzinfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.data.held import embedded
from bot.services.unit.reach import FALLBACK, closed_window, waits_for_them
from core.cases import Status
from core.texts import LANGUAGES, render
from db import queries
from db.models import Identity, OutboxMessage, OutboxStatus

LOCAL = "%Y-%m-%d %H:%M"
EXCERPT = 80  # characters of a message's first line

# The status line an edit ends with ("—— 当前状态：处理中"), in each language, to its status.
_STATUS_LINES = {
    render(language, "card.status", status=render(language, f"status.{status.value}")): status
    for language in LANGUAGES
    for status in Status
}


@dataclass(frozen=True, slots=True)
class Party:
    """Someone the page names: their name, role and the addresses the name may hold."""

    name: str
    role: str
    addresses: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Edit:
    """One edit of a card: when, the case status it showed (None when its text names none),
    and where it stands."""

    at: str
    shows: str | None
    state: str
    delivery_status: str | None


@dataclass(frozen=True, slots=True)
class Sent:
    """One message about the case, with a card's edits under it."""

    id: int
    at: str
    person_id: str | None
    address: str
    channel: str
    template: str
    excerpt: str  # its first line, as its reader got it ("" for an album of photos)
    photos: int
    state: str
    delivery_status: str | None
    edits: tuple[Edit, ...] = ()
    # A channel that answers only for a while after its reader wrote: the message waits for
    # their next message, or was not sent because that time had passed (and went by
    # ``went_by`` instead, when they have another channel).
    waits: bool = False
    window_closed: bool = False
    went_by: str | None = None

    @property
    def last_shown(self) -> str | None:
        """The status the card's newest edit showed."""
        return next((e.shows for e in reversed(self.edits) if e.shows), None)


def shown_status(text: str) -> str | None:
    """The case status an edited card's last line shows, or None."""
    last = text.rstrip().rsplit("\n", 1)[-1].strip()
    found = _STATUS_LINES.get(last)
    return found.value if found is not None else None


def excerpt(text: str, limit: int = EXCERPT) -> str:
    """The first line of a message, cut to ``limit`` characters (an album has no text)."""
    line = text.strip().split("\n", 1)[0]
    return line if len(line) <= limit else line[: limit - 1] + "…"


def sent_messages(rows: Sequence[OutboxMessage], tz: tzinfo) -> tuple[Sent, ...]:
    """``rows`` (a case's outbox, in id order) as messages: each edit under the card it edits;
    an edit whose card is not among them stands as a message of its own."""
    cards = {r.id for r in rows if r.edit_of is None}
    # Where a message given up on went instead: its fallback's key is its own and the channel.
    instead = {
        key: channel
        for key, _, channel in (r.idempotency_key.rpartition(FALLBACK) for r in rows)
        if key and channel
    }
    edits: dict[int, list[Edit]] = {}
    for row in rows:
        if row.edit_of is not None and row.edit_of in cards:
            edits.setdefault(row.edit_of, []).append(
                Edit(
                    at=row.created_at.astimezone(tz).strftime(LOCAL),
                    shows=shown_status(row.text),
                    state=row.status,
                    delivery_status=row.delivery_status,
                )
            )
    return tuple(
        Sent(
            id=row.id or 0,
            at=row.created_at.astimezone(tz).strftime(LOCAL),
            person_id=row.person_id,
            address=row.address,
            channel=row.channel,
            template=row.template,
            excerpt=excerpt(row.text),
            photos=len(row.photos),
            state=row.status,
            delivery_status=row.delivery_status,
            edits=tuple(edits.get(row.id or 0, ())),
            waits=row.status == OutboxStatus.PENDING and waits_for_them(row.next_attempt_at),
            window_closed=row.status == OutboxStatus.DEAD and closed_window(row.last_error),
            went_by=instead.get(row.idempotency_key),
        )
        for row in rows
        if row.edit_of not in cards
    )


async def case_outbox(session: AsyncSession, number: int) -> list[OutboxMessage]:
    """Every outbox row of case ``number``, in the order written."""
    query = select(OutboxMessage).where(OutboxMessage.case_number == number)
    return list((await session.exec(query.order_by(col(OutboxMessage.id)))).all())


async def parties(session: AsyncSession, ids: Iterable[str | None]) -> dict[str, Party]:
    """The people with these ids, with the addresses their names may hold: those they are
    reached at, and the one a resident met on a channel has in their id."""
    wanted = sorted({i for i in ids if i})
    people = await queries.people(session=session, ids=wanted)
    met = [p.id for p in people.values() if embedded(p) is not None]
    addresses: dict[str, list[str]] = {i: [] for i in met}
    if met:
        known = select(Identity.person_id, Identity.address).where(col(Identity.person_id).in_(met))
        for person_id, address in (await session.exec(known)).all():
            addresses[person_id].append(address)
    found = {}
    for person in people.values():
        own = embedded(person)
        held = (*addresses.get(person.id, ()), *([own] if own else []))
        found[person.id] = Party(person.name, person.role, held)
    return found
