"""A resident's data on request: find a person by phone (however written), chat id or person id,
export everything held about them, erase it (docs/reference.md §1, ``wolaiban people``)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import col, func, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.data import phones
from bot.services.data.erase import Erased, anonymise_in, erase_person, is_erased, read_ahead
from bot.services.data.export import export_person
from bot.services.data.held import aliases_of, embedded
from bot.services.unit.context import ServiceContext
from db.models import Case, Identity, Person

__all__ = [
    "Erased",
    "PersonSummary",
    "anonymise_in",
    "erase_person",
    "export_person",
    "find_people",
    "is_erased",
    "read_ahead",
]


@dataclass(frozen=True, slots=True)
class PersonSummary:
    """One person a query found: who they are, where they are reached, how many cases they
    reported; ``aliases``: the retired records of their addresses, erased along with them."""

    id: str
    name: str
    role: str
    source: str  # "directory", the channel they were met on, or "erased"
    active: bool
    identities: tuple[tuple[str, str], ...]  # (channel, address)
    cases: int
    aliases: tuple[str, ...] = ()


async def find_people(ctx: ServiceContext, query: str) -> list[PersonSummary]:
    """The people ``query`` names: a person id (that person alone), else whoever holds it as an
    address — a phone in any written form, a chat id — with the retired records made from it."""
    wanted = query.strip()
    if not wanted:
        return []
    async with ctx.db.reading() as session:
        exact = await session.get(Person, wanted)
        if exact is not None:
            return [await _summary(session, exact, ())]
        addresses = list(dict.fromkeys([wanted, *phones.candidates(wanted)]))
        rows = await session.exec(
            select(Person)
            .join(Identity, col(Identity.person_id) == col(Person.id))
            .where(col(Identity.address).in_(addresses))
            .order_by(col(Person.id))
        )
        holders = list({p.id: p for p in rows.all()}.values())
        folded = {p.id for p in holders}
        found = []
        for person in holders:
            own = await _addresses(session, person.id)
            aliases = [a.id for a in await aliases_of(session, person.id, own)]
            folded.update(aliases)
            found.append(await _summary(session, person, tuple(aliases)))
        # Records made from the address and not found above: retired, their address held by
        # nobody now (an alias of someone found is listed with them).
        strays = await session.exec(
            select(Person)
            .where(or_(*(col(Person.id).endswith(f"-{a}", autoescape=True) for a in addresses)))
            .order_by(col(Person.id))
        )
        for person in strays.all():
            if person.id not in folded and embedded(person) in addresses:
                found.append(await _summary(session, person, ()))
        return found


async def _addresses(session: AsyncSession, person_id: str) -> list[str]:
    """The addresses of ``person_id``'s identities."""
    rows = await session.exec(select(Identity.address).where(Identity.person_id == person_id))
    return list(rows.all())


async def _summary(
    session: AsyncSession, person: Person, aliases: tuple[str, ...]
) -> PersonSummary:
    """``person`` as a query's answer."""
    identities = await session.exec(
        select(Identity).where(Identity.person_id == person.id).order_by(col(Identity.id))
    )
    counted = await session.exec(
        select(func.count()).select_from(Case).where(col(Case.resident_id) == person.id)
    )
    return PersonSummary(
        id=person.id,
        name=person.name,
        role=person.role,
        source=person.source,
        active=person.active,
        identities=tuple((i.channel, i.address) for i in identities.all()),
        cases=int(counted.one()),
        aliases=aliases,
    )
