"""What the console shows of a case's reporter (a resident's data on request, docs/reference.md
§9): who may see it — staff of the case's community, a community the person belongs to — and a
summary of what is held, their addresses masked. The page is reached by the case's number, not
the person's id: an id made from an address (``sms-+8613800000001``) would put the phone in
URLs, browser histories and a proxy's logs."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from sqlmodel import col, func, select

from bot.services.cases.routing import zone
from bot.services.data.held import ERASED, embedded, erase_refusal, held_about
from bot.services.data.phones import E164, pattern
from bot.services.staff.listing import Viewer
from bot.services.unit.context import ServiceContext, ServiceRefusal
from db.models import Case, CasePhoto, Category, OutboxMessage

MAINLAND = "+86"
MAINLAND_LENGTH = 14  # +86 and an 11-digit mobile
MAX_CASE = 2**31 - 1  # past a PostgreSQL integer: no such case


@dataclass(frozen=True, slots=True)
class CaseLine:
    """One case the person reported, as the person's page lists it."""

    number: int
    status: str
    category: tuple[str, str]  # (zh, en)
    created: str  # the day, in the directory's time zone


@dataclass(frozen=True, slots=True)
class PersonView:
    """A person as their page shows them: never an address in full."""

    id: str
    shown_id: str  # the id with the address it was made from masked
    name: str  # with their addresses masked (someone met by SMS is named by their phone)
    role: str
    source: str
    active: bool
    identities: tuple[tuple[str, str], ...]  # (channel, masked address)
    cases: tuple[CaseLine, ...]  # the ones in the reader's communities
    elsewhere: int  # their cases in other communities: counted, not shown
    photos: int
    messages: int
    aliases: int

    @property
    def erased(self) -> bool:
        """True for the record an erase leaves."""
        return self.source == ERASED

    @property
    def case_count(self) -> int:
        """Every case they reported."""
        return len(self.cases) + self.elsewhere

    def refusal(self) -> ServiceRefusal | None:
        """Why an erase would be refused, so the page says it instead of offering the button.
        The same rule as the erase's; the service still decides when the form is sent."""
        return erase_refusal(
            person_id=self.id, name=self.name, source=self.source, active=self.active
        )


def reporter_url(number: int) -> str:
    """The page of case ``number``'s reporter."""
    return f"/console/cases/{number}/reporter"


def masked(address: str) -> str:
    """An address with most of it hidden: a mainland mobile as ``138****0001``, any other
    number or chat id by its last digits only."""
    if address.startswith(MAINLAND) and len(address) == MAINLAND_LENGTH and E164.fullmatch(address):
        national = address[len(MAINLAND) :]
        return f"{national[:3]}****{national[-4:]}"
    tail = 4 if E164.fullmatch(address) else 3
    return "****" + address[-tail:] if len(address) > 2 * tail else "****"


async def reporter_view(ctx: ServiceContext, viewer: Viewer, number: int) -> PersonView | None:
    """The reporter of case ``number`` as ``viewer`` may see them; None when there is no such
    case, or it or they are not the reader's to see (the console answers all alike). The case
    itself must be the reader's: the reporter's cases elsewhere do not open it."""
    if viewer.role != "staff" or not viewer.communities:
        return None
    async with ctx.db.reading() as session:
        case = await session.get(Case, number) if 0 < number <= MAX_CASE else None
        if case is None or case.community_id not in viewer.communities:
            return None
        person_id = case.resident_id
        held = await held_about(session, person_id)
        if held is None:
            return None
        rows = (
            await session.exec(
                select(Case).where(Case.resident_id == person_id).order_by(col(Case.number))
            )
        ).all()
        person = held.person
        numbers = [c.number for c in rows]
        photos = await session.exec(
            select(func.count())
            .select_from(CasePhoto)
            .where(col(CasePhoto.case_number).in_(numbers))
        )
        messages = await session.exec(
            select(func.count())
            .select_from(OutboxMessage)
            .where(col(OutboxMessage.person_id).in_(held.ids))
        )
        names = {c.id: (c.name_zh, c.name_en) for c in (await session.exec(select(Category))).all()}
        tz = await zone(session)
    mine = set(viewer.communities)
    shown = tuple(
        CaseLine(
            number=c.number,
            status=c.status,
            category=names.get(c.category_id, (c.category_id, c.category_id)),
            created=c.created_at.astimezone(tz).strftime("%Y-%m-%d"),
        )
        for c in rows
        if c.community_id in mine and c.number is not None
    )
    return PersonView(
        id=person.id,
        shown_id=_shown(person.id, embedded(person)),
        name=hidden_in(person.name, held.addresses),
        role=person.role,
        source=person.source,
        active=person.active,
        identities=tuple((i.channel, masked(i.address)) for i in held.identities),
        cases=shown,
        elsewhere=len(rows) - len(shown),
        photos=int(photos.one()),
        messages=int(messages.one()),
        aliases=len(held.aliases),
    )


def _shown(person_id: str, address: str | None) -> str:
    """``person_id`` with the address it was made from (if any) masked."""
    if address and person_id.endswith(address):
        return person_id[: -len(address)] + masked(address)
    return person_id


def hidden_in(text: str, addresses: Iterable[str]) -> str:
    """``text`` with each of ``addresses`` in it masked (a phone however it is written)."""
    for address in addresses:
        found = pattern(address) if E164.fullmatch(address) else re.escape(address)
        text = re.sub(found, masked(address), text)
    return text
