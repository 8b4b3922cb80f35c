"""The staff console's case list: who reads it (a ``Viewer``), which cases they may see (the rule
of ``core.access`` as a query), the list's filters, a page of it with counts by status, and the
export of the same filtered cases. Read only; paged and indexed."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, false, func, or_, true
from sqlalchemy import select as select_columns
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.cases.routing import zone
from bot.services.staff.views import JSON_COLUMNS, case_json
from bot.services.unit.context import ServiceContext
from core.access import may_hold
from core.cases import OPEN_STATUSES, Status
from core.clean import clean
from db.directory_cache import directory
from db.models import Case, CaseEvent, Person

_COLUMNS: Sequence[Any] = JSON_COLUMNS
PAGE_SIZE = 50
MAX_EXPORT = 50_000
MAX_SEARCH = 100
MAX_PAGE = 10_000
_WAITING_ACK = (Status.UNASSIGNED.value, Status.ASSIGNED.value)
_WORKING = (Status.UNASSIGNED.value, Status.ASSIGNED.value, Status.ACKNOWLEDGED.value)


@dataclass(frozen=True, slots=True)
class Viewer:
    """A console reader: who, in which role, staff of which communities, supervising whom."""

    person_id: str
    name: str
    role: str
    communities: tuple[str, ...] = ()
    below: tuple[str, ...] = ()  # managers whose escalation chain reaches this person


async def viewer_of(session: AsyncSession, person: Person) -> Viewer:
    """The viewer ``person`` is, read from the directory."""
    known = await directory(session)  # the same staff and chains as a case's parties
    communities = tuple(sorted(c for c, ids in known.staff.items() if person.id in ids))
    below = tuple(sorted(m for m in known.people if person.id in known.supervisor_chain(m)))
    return Viewer(person.id, person.name, person.role, communities, below)


def visible(viewer: Viewer) -> ColumnElement[bool]:
    """The cases ``viewer`` may see, as a condition (``core.access.console_sees`` in SQL)."""
    if viewer.role == "staff":
        return col(Case.community_id).in_(viewer.communities) if viewer.communities else false()
    if viewer.role in ("manager", "supervisor"):
        acted = select(CaseEvent.case_number).where(CaseEvent.actor_id == viewer.person_id)
        return or_(
            col(Case.manager_id) == viewer.person_id,
            col(Case.manager_id).in_(viewer.below),
            col(Case.number).in_(acted),
        )
    return false()


@dataclass(frozen=True, slots=True)
class Filters:
    """What the list is narrowed to; every field comes from a URL and is bounded here."""

    status: str = ""  # empty: the open ones
    category: str = ""
    community: str = ""
    holder: str = ""
    overdue: bool = False
    reopened: bool = False
    escalated: bool = False
    text: str = ""
    since: date | None = None
    until: date | None = None
    page: int = 1

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> Filters:
        """Filters from query parameters; anything malformed is dropped, not an error."""
        status = params.get("status", "")
        return cls(
            status=status if status in {s.value for s in Status} | {"all"} else "",
            category=_word(params.get("category", "")),
            community=_word(params.get("community", "")),
            holder=_word(params.get("holder", "")),
            overdue=params.get("overdue") == "1",
            reopened=params.get("reopened") == "1",
            escalated=params.get("escalated") == "1",
            text=clean(params.get("q", ""))[:MAX_SEARCH],
            since=_day(params.get("since", "")),
            until=_day(params.get("until", "")),
            page=_page(params.get("page", "")),
        )

    def query(self, **changes: Any) -> dict[str, str]:
        """These filters (with ``changes``) as query parameters, empty ones left out."""
        values = replace(self, **changes)
        found = {
            "status": values.status,
            "category": values.category,
            "community": values.community,
            "holder": values.holder,
            "overdue": "1" if values.overdue else "",
            "reopened": "1" if values.reopened else "",
            "escalated": "1" if values.escalated else "",
            "q": values.text,
            "since": values.since.isoformat() if values.since else "",
            "until": values.until.isoformat() if values.until else "",
            "page": str(values.page) if values.page > 1 else "",
        }
        return {k: v for k, v in found.items() if v}


def _word(value: str) -> str:
    """An id from a URL: short, printable, or nothing."""
    value = value.strip()
    return value if len(value) <= 64 and value.isprintable() else ""


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _page(value: str) -> int:
    return min(int(value), MAX_PAGE) if value.isascii() and value.isdigit() and value != "0" else 1


def overdue(now: datetime) -> ColumnElement[bool]:
    """Past its acknowledge deadline unacknowledged, or past its resolve deadline unresolved."""
    return or_(
        and_(col(Case.status).in_(_WAITING_ACK), col(Case.ack_due_at) < now),
        and_(col(Case.status).in_(_WORKING), col(Case.resolve_due_at) < now),
    )


def _conditions(filters: Filters, now: datetime, tz: Any) -> list[ColumnElement[bool]]:
    """The filters as conditions, status aside (the counts by status ignore it)."""
    found: list[ColumnElement[bool]] = []
    if filters.category:
        found.append(col(Case.category_id) == filters.category)
    if filters.community:
        found.append(col(Case.community_id) == filters.community)
    if filters.holder:
        found.append(col(Case.manager_id) == filters.holder)
    if filters.overdue:
        found.append(overdue(now))
    if filters.reopened:
        found.append(col(Case.reopen_count) > 0)
    if filters.escalated:
        found.append(col(Case.escalation_level) > 0)
    if filters.text:
        pattern = "%" + filters.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern += "%"
        matches: list[ColumnElement[bool]] = [
            col(Case.description).like(pattern, escape="\\"),
            col(Case.location).like(pattern, escape="\\"),
        ]
        digits = filters.text.lstrip("#")
        if digits.isascii() and digits.isdigit() and len(digits) < 10:
            matches.append(col(Case.number) == int(digits))
        found.append(or_(*matches))
    if filters.since is not None:
        found.append(col(Case.created_at) >= datetime.combine(filters.since, time(), tz))
    if filters.until is not None:
        end = datetime.combine(filters.until + timedelta(days=1), time(), tz)
        found.append(col(Case.created_at) < end)
    return found


def _status_condition(filters: Filters) -> ColumnElement[bool]:
    if filters.status == "all":
        return true()
    if filters.status:
        return col(Case.status) == filters.status
    return col(Case.status).in_([s.value for s in OPEN_STATUSES])


@dataclass(frozen=True, slots=True)
class Page:
    """One page of the list: its cases (the contract's JSON, plus ``overdue``), how many match,
    and the counts by status of the cases matching every filter but the status."""

    cases: list[dict[str, Any]]
    total: int
    counts: dict[str, int]
    page: int
    pages: int


async def case_page(
    ctx: ServiceContext, viewer: Viewer, filters: Filters, *, language: str = "zh"
) -> Page:
    """The page of the list ``filters`` ask for, overdue cases first, then the newest; names
    of communities and categories in ``language``."""
    now = ctx.clock()
    async with ctx.db.reading() as session:
        tz = await zone(session)
        names = await _names(session, language)
        shared = [visible(viewer), *_conditions(filters, now, tz)]
        where = and_(*shared, _status_condition(filters))
        conn = await session.connection()
        counted = select_columns(col(Case.status), func.count()).where(*shared)
        counts = {s: n for s, n in (await conn.execute(counted.group_by(Case.status))).all()}
        total = (await conn.execute(select_columns(func.count()).where(where))).scalar_one()
        pages = max(1, -(-total // PAGE_SIZE))
        page = min(filters.page, pages)
        late = overdue(now)
        query: Select[Any] = (
            select_columns(*_COLUMNS, case((late, 1), else_=0).label("overdue"))
            .where(where)
            .order_by(case((late, 0), else_=1), col(Case.number).desc())
            .limit(PAGE_SIZE)
            .offset((page - 1) * PAGE_SIZE)
        )
        rows = (await conn.execute(query)).all()
    cases = [{**case_json(r._mapping, tz, names=names), "overdue": bool(r.overdue)} for r in rows]
    return Page(cases, total, counts, page, pages)


async def export(
    ctx: ServiceContext, viewer: Viewer, filters: Filters, *, language: str = "zh"
) -> list[dict[str, Any]]:
    """Every case the filters match (at most ``MAX_EXPORT``), by number, as the contract's JSON
    (names in ``language``)."""
    async with ctx.db.reading() as session:
        tz = await zone(session)
        names = await _names(session, language)
        where = and_(visible(viewer), *_conditions(filters, ctx.clock(), tz))
        query: Select[Any] = (
            select_columns(*_COLUMNS)
            .where(where, _status_condition(filters))
            .order_by(col(Case.number))
            .limit(MAX_EXPORT)
        )
        rows = (await (await session.connection()).execute(query)).all()
    return [case_json(r._mapping, tz, names=names) for r in rows]


async def choices(ctx: ServiceContext, viewer: Viewer) -> dict[str, list[tuple[str, str, str]]]:
    """What the filters offer: communities, categories, holders as (id, zh name, en name)."""
    async with ctx.db.reading() as session:
        known = await directory(session)
        communities = [
            (c.id, c.name_zh, c.name_en)
            for c in known.communities.values()
            if viewer.role != "staff" or c.id in viewer.communities
        ]
        categories = [(c.id, c.name_zh, c.name_en) for c in known.categories.values() if c.active]
        holders = [(p.id, p.name, p.name) for p in await _holders(session, viewer)]
    return {"communities": communities, "categories": categories, "holders": holders}


async def _holders(session: AsyncSession, viewer: Viewer) -> list[Person]:
    """Whom the holder filter offers — people of the reader's communities only, never everyone
    who manages anywhere: staff their communities' managers and supervisors (whom a case there
    may go to, ``core.access.may_hold``) and staff; managers and supervisors themselves, the
    managers below them, and whoever holds a case they see."""
    query = (
        select(Person)
        .where(col(Person.active), col(Person.role).in_(("manager", "supervisor", "staff")))
        .order_by(col(Person.role), col(Person.id))
    )
    people = (await session.exec(query)).all()
    if viewer.role == "staff":
        known = await directory(session)
        mine = set(viewer.communities)
        ids = {i for c in mine for i in known.staff.get(c, ())} | {
            p.id for p in people if any(may_hold(p, community=c, routes=known.routes) for c in mine)
        }
        return [p for p in people if p.id in ids]
    if viewer.role in ("manager", "supervisor"):
        held = select(Case.manager_id).where(visible(viewer), col(Case.manager_id).is_not(None))
        ids = {viewer.person_id, *viewer.below, *(await session.exec(held.distinct())).all()}
        return [p for p in people if p.id in ids]
    return []


async def names_of(ctx: ServiceContext, ids: Collection[str]) -> dict[str, str]:
    """The names of the staff, managers and supervisors among ``ids`` (what a page already shows
    by id, e.g. the rates' holders), by id."""
    async with ctx.db.reading() as session:
        query = select(Person.id, Person.name).where(
            col(Person.id).in_(sorted(ids)), col(Person.role) != "resident"
        )
        return dict((await session.exec(query)).all())


async def _names(session: AsyncSession, language: str) -> dict[str, tuple[str, str]]:
    """Display names for the case JSON: communities and categories in ``language``, people."""
    known = await directory(session)
    en = language == "en"
    names = {
        f"community:{c.id}": (c.name_en if en else c.name_zh, c.id)
        for c in known.communities.values()
    }
    names.update(
        {
            f"category:{c.id}": (c.name_en if en else c.name_zh, c.id)
            for c in known.categories.values()
        }
    )
    query = select(Person.id, Person.name).where(col(Person.role) != "resident")
    for person_id, name in (await session.exec(query)).all():
        names[f"person:{person_id}"] = (name, person_id)
    return names
