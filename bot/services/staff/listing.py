"""The staff console's case list: who reads it (a ``Viewer``), which cases they may see (the rule
of ``core.access`` as a query) and which are theirs, the filters and views as conditions, a page
of it with counts by status, and the export of the same filtered cases. Read only; paged by key
and indexed."""

from __future__ import annotations

import secrets
from collections.abc import AsyncGenerator, Collection, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, false, func, or_, true
from sqlalchemy import select as select_columns
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.cases.routing import zone
from bot.services.staff import csv_rows, keyset
from bot.services.staff.filters import Filters as Filters  # the pages parse theirs from here
from bot.services.staff.queue import (
    StaffLevel,
    acted_on,
    deadline,
    display_names,
    due,
    held_by,
    list_phases,
    mine,
    overdue,
    people_names,
    per_directory,
    place_names,
    staff_level,
    summary,
)
from bot.services.staff.views import JSON_COLUMNS, case_json
from bot.services.unit.context import ServiceContext
from core.cases import OPEN_STATUSES, Status
from db.directory_cache import DirectorySnapshot, directory
from db.models import Case, CaseEvent, Person
from db.search import like_scan, matching

_COLUMNS: Sequence[Any] = JSON_COLUMNS
PAGE_SIZE = 50
FEW_COMMUNITIES = 20


@dataclass(frozen=True, slots=True)
class Viewer:
    """A console reader: who, in which role, staff of which communities, supervising whom."""

    person_id: str
    name: str
    role: str
    communities: tuple[str, ...] = ()
    below: tuple[str, ...] = ()  # managers whose escalation chain reaches this person
    everywhere: bool = False  # staff of every community in the directory: sees every case


async def viewer_of(session: AsyncSession, person: Person) -> Viewer:
    """The viewer ``person`` is, read from the directory."""
    known = await directory(session)  # the same staff and chains as a case's parties
    communities = per_directory(known, "staff of", lambda: _staff_of(known)).get(person.id, ())
    # Only someone named as a supervisor has anyone below: no chain walked for each of a city's
    # 100,000 people on every page.
    below: tuple[str, ...] = ()
    supervisors = per_directory(known, "supervisors", lambda: {s for s, _ in known.people.values()})
    if person.id in supervisors:
        below = tuple(sorted(m for m in known.people if person.id in known.supervisor_chain(m)))
    everywhere = person.id in per_directory(known, "everywhere", lambda: _everywhere(known))
    return Viewer(person.id, person.name, person.role, communities, below, everywhere)


def _staff_of(known: DirectorySnapshot) -> dict[str, tuple[str, ...]]:
    found: dict[str, list[str]] = {}
    for community, ids in sorted(known.staff.items()):
        for i in ids:
            found.setdefault(i, []).append(community)
    return {i: tuple(c) for i, c in found.items()}


def _everywhere(known: DirectorySnapshot) -> set[str]:
    """The staff of every community in ``known`` (a case's community is always one of them:
    a directory load deactivates a community with cases, never deletes it)."""
    every = set(known.communities)
    staff_of = per_directory(known, "staff of", lambda: _staff_of(known))
    return {i for i, c in staff_of.items() if len(c) >= len(every) and every <= set(c)}


def visible(viewer: Viewer) -> ColumnElement[bool]:
    """The cases ``viewer`` may see, as a condition (``core.access.console_sees`` in SQL)."""
    if viewer.role == "staff":
        if viewer.everywhere:  # a district office: 7,000 ids in every query filter nothing
            return true()
        return col(Case.community_id).in_(viewer.communities) if viewer.communities else false()
    if viewer.role in ("manager", "supervisor"):
        acted = select(CaseEvent.case_number).where(CaseEvent.actor_id == viewer.person_id)
        return or_(
            col(Case.manager_id) == viewer.person_id,
            col(Case.manager_id).in_(viewer.below),
            col(Case.number).in_(acted),
        )
    return false()


def _conditions(
    filters: Filters, now: datetime, tz: Any, viewer: Viewer, level: StaffLevel, dialect: str
) -> list[ColumnElement[bool]]:
    """What ``viewer`` may see, narrowed by the filters and the view, status aside (the counts
    by status ignore it); the text search in ``dialect``'s index."""
    found: list[ColumnElement[bool]] = [visible(viewer)]
    if filters.view == "mine":
        found.append(mine(viewer, level))
    elif filters.view == "unassigned":
        found.append(col(Case.status) == Status.UNASSIGNED.value)
    elif filters.view == "escalated":
        found.append(level.condition())
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
        # The database's text index, never a scan of every case (db/search.py); but for 1–2
        # characters read by staff of a few communities, LIKE over their cases (1,400 each at
        # 10 M) beats the index's candidates (快递: 625,000 of 10 M; bench/city.py).
        few = viewer.role == "staff" and len(viewer.communities) <= FEW_COMMUNITIES
        short = len(filters.text) < 3 and (few or bool(filters.community))
        matches = [like_scan(filters.text) if short else matching(filters.text, dialect)]
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
    """One page of the list: its cases (the contract's JSON, plus ``overdue``, ``mine``,
    ``at_staff`` — escalated to the staff —, ``due`` and ``summary``), how many match, and the
    counts by status of the cases matching every filter but the status; the keys its links to the
    pages before and after carry (``""``: there is none)."""

    cases: list[dict[str, Any]]
    total: int
    counts: dict[str, int]
    page: int
    pages: int
    before: str = ""
    after: str = ""
    # The id of the page's bulk form: that form sent twice acts once on each case.
    form_id: str = field(default_factory=lambda: secrets.token_urlsafe(12))


async def case_page(
    ctx: ServiceContext, viewer: Viewer, filters: Filters, *, language: str = "zh"
) -> Page:
    """The page of the list ``filters`` ask for — overdue cases first, then the newest; or by
    the next deadline, the most overdue first and cases waiting on none last — with names of
    communities and categories in ``language``. A page is found by the key of the row before
    (or after) it, never by skipping rows: any page costs what the first does."""
    now = ctx.clock()
    async with ctx.db.reading() as session:
        tz = await zone(session)
        level = await staff_level(session)
        shared = _conditions(filters, now, tz, viewer, level, ctx.db.engine.dialect.name)
        where = and_(*shared, _status_condition(filters))
        conn = await session.connection()
        counted = select_columns(col(Case.status), func.count()).where(*shared)
        counts = {s: n for s, n in (await conn.execute(counted.group_by(Case.status))).all()}
        # From the cases even when no condition names them (a reader of every one, every status).
        counting = select_columns(func.count()).select_from(Case).where(where)
        total = (await conn.execute(counting)).scalar_one()
        pages = max(1, -(-total // PAGE_SIZE))
        phases = list_phases(filters.sort, now)
        place = keyset.place(filters.after, filters.before, phases)
        base = select_columns(*_COLUMNS, case((overdue(now), 1), else_=0).label("overdue"))
        walked = await keyset.page(conn, base.where(where), phases, place, PAGE_SIZE)
        rows = walked.rows
        acted = await acted_on(session, viewer.person_id, [r.number for r in rows])
        names = await display_names(session, language, rows)
    cases = [
        {
            **case_json(r._mapping, tz, names=names),
            "overdue": bool(r.overdue),
            "mine": r.number in acted or held_by(viewer, level, r._mapping),
            "at_staff": level.reached(r._mapping),
            "due": due(deadline(r.status, r.ack_due_at, r.resolve_due_at), now, tz),
            "summary": summary(r.description),
        }
        for r in rows
    ]
    number = 1 if place is None or not walked.earlier else max(2, min(filters.page, pages))
    before = walked.keys[0] if walked.earlier and walked.keys else ""
    after = walked.keys[-1] if walked.later and walked.keys else ""
    return Page(cases, total, counts, number, max(pages, number), before, after)


async def export(
    ctx: ServiceContext,
    viewer: Viewer,
    filters: Filters,
    *,
    language: str = "zh",
    batch: int = keyset.BATCH,
    shape: csv_rows.Shape = csv_rows.CONTRACT_JSON,
) -> AsyncGenerator[list[Any]]:
    """Every case the filters match, by number, ``batch`` at most at a time (the memory it holds
    does not grow with the cases), in ``shape``: the contract's JSON (names in ``language``), or
    the console CSV's lines (``csv_rows.CsvLines``)."""
    async with ctx.db.reading() as session:
        tz = await zone(session)
        level = await staff_level(session)
        places = await place_names(session, language)  # once: a city has 7,000 communities
    dialect = ctx.db.engine.dialect.name
    now = ctx.clock()
    where = and_(*_conditions(filters, now, tz, viewer, level, dialect))
    columns = shape.columns(dialect, tz, now)
    query = select_columns(*columns).where(where, _status_condition(filters))
    # Closed with the export (a client gone): the window it reads ahead is not left reading.
    found = keyset.batches(ctx, query, col(Case.number), batch, ahead=True)
    async with aclosing(found) as windows:
        async for rows in windows:
            async with ctx.db.reading() as session:
                names = await display_names(session, language, rows, places)
            yield shape.lines(rows, tz, names)


async def names_of(ctx: ServiceContext, ids: Collection[str]) -> dict[str, str]:
    """The names of the staff, managers and supervisors among ``ids`` (what a page already shows
    by id, e.g. the rates' holders), by id."""
    async with ctx.db.reading() as session:
        return await people_names(session, ids)
