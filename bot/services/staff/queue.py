"""The case list as a work queue: each case's next deadline (as a column to sort by, and in words
on its row), which cases the community's staff hold because their escalation reached them, which
are the reader's own ("mine"), the one line of a description a row shows, and the names a row
shows. Reads only, for ``listing``."""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any, Protocol, TypeVar, cast

from sqlalchemy import ColumnElement, and_, case, false, not_, or_, union
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.cases.routing import DEFAULT_CHAIN
from bot.services.staff.keyset import Phase
from core.access import MANAGING_ROLES
from core.cases import Status
from db.directory_cache import DirectorySnapshot, directory
from db.models import Case, CaseEvent, Person

T = TypeVar("T")

WAITING_ACK = (Status.UNASSIGNED.value, Status.ASSIGNED.value)
WORKING = (*WAITING_ACK, Status.ACKNOWLEDGED.value)
DUE_SOON = timedelta(hours=1)  # "due within the hour": what to pick up next
SUMMARY = 40  # characters of a description a row shows (a line on a desk, two on a phone)


def overdue(now: datetime) -> ColumnElement[bool]:
    """Past its acknowledge deadline unacknowledged, or past its resolve deadline unresolved."""
    return or_(
        and_(col(Case.status).in_(WAITING_ACK), col(Case.ack_due_at) < now),
        and_(col(Case.status).in_(WORKING), col(Case.resolve_due_at) < now),
    )


def next_deadline() -> ColumnElement[Any]:
    """The deadline a case waits on now: acknowledging it while nobody has, else resolving it
    while it is being worked on; none once it is resolved or over (``deadline`` in SQL)."""
    return case(
        (col(Case.status).in_(WAITING_ACK), col(Case.ack_due_at)),
        (col(Case.status) == Status.ACKNOWLEDGED.value, col(Case.resolve_due_at)),
        else_=None,
    )


def deadline(status: str, ack_due_at: datetime, resolve_due_at: datetime) -> datetime | None:
    """The deadline a case in ``status`` waits on now (``next_deadline`` for one row)."""
    if status in WAITING_ACK:
        return ack_due_at
    return resolve_due_at if status == Status.ACKNOWLEDGED.value else None


@dataclass(frozen=True, slots=True)
class Due:
    """A row's deadline: when (local "YYYY-MM-DD HH:MM"), and how it stands — ``late`` by
    ``amount`` ``unit`` (minutes, hours, days), ``soon`` (within ``DUE_SOON``), or neither."""

    at: str
    iso: str
    state: str = ""  # "late", "soon" or ""
    unit: str = ""
    amount: int = 0


def due(at: datetime | None, now: datetime, tz: tzinfo) -> Due | None:
    """How deadline ``at`` stands at ``now``, to be said in words beside its time."""
    if at is None:
        return None
    local = at.astimezone(tz)
    shown = Due(local.strftime("%Y-%m-%d %H:%M"), local.isoformat(timespec="minutes"))
    if at < now:  # as ``overdue``: strictly past
        minutes = int((now - at).total_seconds() // 60)
        if minutes < 60:
            return Due(shown.at, shown.iso, "late", "minutes", max(minutes, 1))
        if minutes < 48 * 60:
            return Due(shown.at, shown.iso, "late", "hours", minutes // 60)
        return Due(shown.at, shown.iso, "late", "days", minutes // (24 * 60))
    return Due(shown.at, shown.iso, "soon") if at - now <= DUE_SOON else shown


def summary(description: str) -> str:
    """A description's first line, cut to ``SUMMARY`` characters with "…"."""
    line = description.strip().split("\n", 1)[0].strip()
    return line if len(line) <= SUMMARY else line[: SUMMARY - 1].rstrip() + "…"


@dataclass(frozen=True, slots=True)
class StaffLevel:
    """From which escalation level a case is the community staff's to hold: ``held`` for a holder
    with a supervisor above, ``alone`` for the holders without one (their supervisor's level
    falls through to staff, as ``core.routing.holders_at_level`` says). None: never."""

    held: int | None
    alone: int | None
    unsupervised: tuple[str, ...] = ()

    def condition(self) -> ColumnElement[bool]:
        """The cases waiting at the staff's level, as a condition: open ones only (a case resolved
        or over is nobody's to hold), which also lets the status index find them."""
        level = col(Case.escalation_level)
        found: list[ColumnElement[bool]] = []
        if self.held is not None:
            found.append(level >= self.held)
        if self.alone is not None and self.unsupervised:
            found.append(and_(col(Case.manager_id).in_(self.unsupervised), level >= self.alone))
        return and_(col(Case.status).in_(WORKING), or_(*found)) if found else false()

    def reached(self, row: Mapping[str, Any]) -> bool:
        """``condition`` for one case row."""
        if row["status"] not in WORKING:
            return False
        level = row["escalation_level"]
        if self.held is not None and level >= self.held:
            return True
        if self.alone is None or row["manager_id"] not in self.unsupervised:
            return False
        return bool(level >= self.alone)


def _from(chain: tuple[str, ...], holding: frozenset[str]) -> int | None:
    """The first level from which no role of ``holding`` stands between a case and the staff."""
    if "staff" not in chain:
        return None
    top = chain.index("staff")
    below = [i for i, role in enumerate(chain[:top]) if role in holding]
    return max(max(below, default=-1) + 1, 1)  # level 0 is the report itself: never escalated


async def staff_level(session: AsyncSession) -> StaffLevel:
    """The directory's ``StaffLevel``: its chain, and who manages with nobody above them."""
    known = await directory(session)
    chain = tuple(known.settings.get("escalation", DEFAULT_CHAIN))
    query = select(Person.id).where(col(Person.role).in_(MANAGING_ROLES))
    holders = frozenset((await session.exec(query)).all())
    alone = per_directory(
        known,
        ("alone", holders),
        lambda: tuple(sorted(p for p in holders if not known.supervisor_chain(p))),
    )
    return StaffLevel(
        _from(chain, frozenset({"manager", "supervisor"})),
        _from(chain, frozenset({"manager"})),
        alone,
    )


class Reader(Protocol):
    """Who reads the list, as far as "mine" needs to know them (``listing.Viewer`` is one)."""

    @property
    def person_id(self) -> str: ...

    @property
    def role(self) -> str: ...

    @property
    def communities(self) -> tuple[str, ...]: ...  # staff of these

    @property
    def below(self) -> tuple[str, ...]: ...  # managers whose chain reaches them


def _held(reader: Reader, level: StaffLevel) -> ColumnElement[bool]:
    """The cases ``reader`` holds now: for staff those of their communities waiting at the
    staff's level; for a manager or supervisor their own, and those of the managers below them
    that were escalated."""
    if reader.role == "staff":
        return and_(col(Case.community_id).in_(reader.communities), level.condition())
    holder = col(Case.manager_id)
    return and_(
        holder.in_((reader.person_id, *reader.below)),
        or_(holder == reader.person_id, col(Case.escalation_level) > 0),
    )


def mine(reader: Reader, level: StaffLevel) -> ColumnElement[bool]:
    """The cases ``reader`` holds now or acted on, as a condition (the list's "mine")."""
    acted = select(CaseEvent.case_number).where(CaseEvent.actor_id == reader.person_id)
    held = select(Case.number).where(_held(reader, level)).correlate(None)
    # One list of numbers, each part found by its own index: as an OR of the two conditions the
    # database would read every case of the reader's communities (600 ms at 100,000 cases).
    return col(Case.number).in_(union(held, acted))


def held_by(reader: Reader, level: StaffLevel, row: Mapping[str, Any]) -> bool:
    """``_held`` for one case row the reader may see."""
    if reader.role == "staff":
        return level.reached(row)
    manager = row["manager_id"]
    return manager == reader.person_id or (manager in reader.below and row["escalation_level"] > 0)


async def acted_on(session: AsyncSession, person_id: str, numbers: Collection[int]) -> set[int]:
    """Which of ``numbers`` (a page's) ``person_id`` ever acted on."""
    if not numbers:
        return set()
    query = select(CaseEvent.case_number).where(
        CaseEvent.actor_id == person_id, col(CaseEvent.case_number).in_(sorted(numbers))
    )
    return set((await session.exec(query.distinct())).all())


def list_phases(sort: str, now: datetime) -> list[Phase]:
    """The console list's order (``sort``) as phases: the overdue cases, then the others, each
    the newest first; or (sorted by due) the cases waiting on a deadline, the earliest first,
    then the others."""
    number = col(Case.number)
    if sort == "due":
        waits = next_deadline()
        return [
            Phase(waits.is_not(None), (waits, number), False, _due_key),
            Phase(waits.is_(None), (number,), False, lambda r: (r.number,)),
        ]
    late = overdue(now)
    return [
        Phase(late, (number,), True, lambda r: (r.number,)),
        Phase(not_(late), (number,), True, lambda r: (r.number,)),
    ]


def _due_key(row: Any) -> tuple[Any, ...]:
    return (deadline(row.status, row.ack_due_at, row.resolve_due_at), row.number)


# What the list works out from a directory snapshot, kept while that snapshot is the current one:
# a city's directory (7,000 communities, 100,000 people) made each page walk all of it. A
# snapshot is never changed (``db.directory_cache``), so what it gave stays right; the key says
# what else an entry was made from.
_DERIVED: dict[Hashable, tuple[DirectorySnapshot, Any]] = {}


def per_directory(known: DirectorySnapshot, key: Hashable, make: Callable[[], T]) -> T:
    """``make()``, made once per snapshot ``known`` and ``key``."""
    held = _DERIVED.get(key)
    if held is None or held[0] is not known:
        if len(_DERIVED) > 64:  # old snapshots' entries (or many keys): start again
            _DERIVED.clear()
        held = _DERIVED[key] = (known, make())
    return cast(T, held[1])


async def people_names(session: AsyncSession, ids: Collection[str]) -> dict[str, str]:
    """The names of the staff, managers and supervisors among ``ids``, by id."""
    query = select(Person.id, Person.name).where(
        col(Person.id).in_(sorted(ids)), col(Person.role) != "resident"
    )
    return dict((await session.exec(query)).all())


async def display_names(
    session: AsyncSession, language: str, rows: Sequence[Any], places: dict[str, Any] | None = None
) -> dict[str, tuple[str, str]]:
    """Names for the case JSON of ``rows``: ``places`` (made if not given), their managers'."""
    names = dict(places) if places is not None else await place_names(session, language)
    people = await people_names(session, {r.manager_id for r in rows if r.manager_id})
    names.update({f"person:{i}": (name, i) for i, name in people.items()})
    return names


async def place_names(session: AsyncSession, language: str) -> dict[str, tuple[str, str]]:
    """The names of the communities and categories in ``language``, by ``kind:id``."""
    known = await directory(session)
    en = language == "en"
    groups = (("community", known.communities), ("category", known.categories))
    return per_directory(
        known,
        ("places", en),
        lambda: {
            f"{kind}:{c.id}": (c.name_en if en else c.name_zh, c.id)
            for kind, group in groups
            for c in group.values()
        },
    )
