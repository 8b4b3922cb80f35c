"""The people around a case — resident, manager, supervisors, staff — and an actor's relations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from core.access import relations_of
from core.cases import Relation
from core.routing import holders_at_level
from db import queries
from db.models import Case, Person


@dataclass(frozen=True, slots=True)
class Parties:
    """Everyone who may hear of or act on one case."""

    resident: Person | None
    manager: Person | None
    supervisors: tuple[Person, ...]
    staff: tuple[Person, ...]
    followers: tuple[Person, ...] = ()  # residents following it (docs/reference.md §4)

    def relations(self, actor_id: str | None, *, system: bool = False) -> frozenset[Relation]:
        """How ``actor_id`` stands to the case; inactive people stand in no relation."""
        people = {p.id: p for p in self.everyone}
        if actor_id is not None and actor_id in people and not people[actor_id].active:
            return frozenset()
        return relations_of(
            actor_id,
            system=system,
            resident_id=self.resident.id if self.resident else "",
            manager_id=self.manager.id if self.manager else None,
            supervisors={p.id for p in self.supervisors},
            staff={p.id for p in self.staff},
            followers={p.id for p in self.followers},
        )

    @classmethod
    def of(
        cls,
        case: Case,
        people: Mapping[str, Person],
        supervisor_ids: Sequence[str],
        staff_ids: Sequence[str],
        follower_ids: Sequence[str] = (),
    ) -> Parties:
        """The parties of ``case`` from its people by id, its supervisor chain and its
        community's staff (in order) — one rule for the general path and the hot path."""
        return cls(
            resident=people.get(case.resident_id),
            manager=people.get(case.manager_id) if case.manager_id else None,
            supervisors=tuple(people[i] for i in supervisor_ids if i in people),
            staff=tuple(people[i] for i in staff_ids if i in people),
            followers=tuple(people[i] for i in follower_ids if i in people),
        )

    @property
    def everyone(self) -> tuple[Person, ...]:
        """All parties, without repeats."""
        seen: dict[str, Person] = {}
        everyone = (self.resident, self.manager, *self.supervisors, *self.staff, *self.followers)
        for person in everyone:
            if person is not None:
                seen.setdefault(person.id, person)
        return tuple(seen.values())

    def holders(self, level: int, chain: tuple[str, ...]) -> list[Person]:
        """Who holds the case at escalation ``level``: manager, then supervisor, then staff."""
        people = {p.id: p for p in self.everyone}
        ids = holders_at_level(
            level,
            chain,
            manager_id=self.manager.id if self.manager else None,
            supervisors=[p.id for p in self.supervisors],
            staff=[p.id for p in self.staff],
        )
        return [people[i] for i in ids]


async def load_parties(*, session: AsyncSession, case: Case) -> Parties:
    """Load the parties of ``case`` in its current state."""
    supervisor_ids = await queries.supervisor_chain(session=session, manager_id=case.manager_id)
    staff_ids = await queries.staff_ids(session=session, community_id=case.community_id)
    assert case.number is not None
    follower_ids = (
        await queries.follower_ids(session=session, number=case.number) if case.followers else []
    )
    ids = [case.resident_id, *([case.manager_id] if case.manager_id else []), *follower_ids]
    people = await queries.people(session=session, ids=[*ids, *supervisor_ids, *staff_ids])
    return Parties.of(case, people, supervisor_ids, staff_ids, follower_ids)
