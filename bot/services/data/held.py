"""Who a request about a person's data is about: the person, the retired records of their own
addresses (a chat's first resident before an invite bound it to them), and the ids, addresses,
phones and names by which the database points at them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.data import phones
from bot.services.unit.context import ServiceRefusal
from db.models import Identity, Person

DIRECTORY = "directory"
# The source of the record an erased person leaves (the console says their reporter was erased).
ERASED = "erased"


@dataclass(frozen=True, slots=True)
class Held:
    """A person, their identities and their aliases: inactive records met on a channel whose id
    was made from an address that is now this person's (their cases were handed over to them)."""

    person: Person
    identities: tuple[Identity, ...]
    aliases: tuple[Person, ...]

    @property
    def people(self) -> tuple[Person, ...]:
        """The person and their aliases."""
        return (self.person, *self.aliases)

    @property
    def ids(self) -> tuple[str, ...]:
        """Every id that names them."""
        return tuple(p.id for p in self.people)

    @property
    def addresses(self) -> tuple[str, ...]:
        """Their addresses: their identities', and those their ids were made from."""
        found = [i.address for i in self.identities]
        found += [a for p in self.people if (a := embedded(p)) is not None]
        return tuple(dict.fromkeys(found))

    @property
    def phones(self) -> tuple[str, ...]:
        """Their addresses that are phone numbers."""
        return tuple(a for a in self.addresses if phones.E164.fullmatch(a))

    @property
    def names(self) -> tuple[str, ...]:
        """The names they go by."""
        return tuple(dict.fromkeys(p.name for p in self.people if p.name))


def embedded(person: Person) -> str | None:
    """The address a resident met on a channel has in their id (``sms-+86…``, ``tg-12345``:
    ``ChannelBook.resident_id``); None for the directory's people, an erased person's record
    and an id without one."""
    if person.source in (DIRECTORY, ERASED) or "-" not in person.id:
        return None
    return person.id.split("-", 1)[1] or None


async def aliases_of(
    session: AsyncSession, person_id: str, addresses: Iterable[str]
) -> list[Person]:
    """The inactive records met on a channel whose id was made from one of ``addresses``."""
    wanted = sorted({a for a in addresses if a})
    if not wanted:
        return []
    query = select(Person).where(
        or_(*(col(Person.id).endswith(f"-{a}", autoescape=True) for a in wanted)),
        col(Person.id) != person_id,
        col(Person.source) != DIRECTORY,
        col(Person.active).is_(False),
    )
    found = (await session.exec(query.order_by(col(Person.id)))).all()
    return [p for p in found if embedded(p) in wanted]


async def held_about(session: AsyncSession, person_id: str, *, lock: bool = False) -> Held | None:
    """What points at ``person_id``, or None for no such person; ``lock`` holds their row until
    the transaction ends (PostgreSQL; SQLite's writers take turns anyway)."""
    query = select(Person).where(Person.id == person_id)
    person = (await session.exec(query.with_for_update() if lock else query)).first()
    if person is None:
        return None
    rows = await session.exec(
        select(Identity).where(Identity.person_id == person_id).order_by(col(Identity.id))
    )
    identities = tuple(rows.all())
    own = [i.address for i in identities]
    return Held(person, identities, tuple(await aliases_of(session, person.id, own)))


def erase_refusal(*, person_id: str, name: str, source: str, active: bool) -> ServiceRefusal | None:
    """Why a person may not be erased, or None: erased before, or listed by the directory (it
    owns them: remove them from the file first). The erase and the console's page ask this."""
    if source == ERASED:
        return ServiceRefusal("people.erased_before", {"person": person_id})
    if source == DIRECTORY and active:
        return ServiceRefusal("people.listed", {"person": person_id, "name": name})
    return None
