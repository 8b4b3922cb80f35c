"""Read-only views of cases for the command line and scripts (field names: docs/reference.md §1)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import Executable, Select
from sqlalchemy import select as select_columns
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.cases.photos import event_photos
from bot.services.cases.routing import zone
from bot.services.staff import keyset
from bot.services.unit.context import ServiceContext
from db import queries
from db.models import Case, CaseEvent, CaseFollower, CasePhoto, Category, Community

# The columns a case's JSON reads (docs/reference.md §1); not photos nor timers.
JSON_COLUMNS = (
    Case.number,
    Case.status,
    Case.community_id,
    Case.category_id,
    Case.location,
    Case.description,
    Case.channel,
    Case.resident_id,
    Case.manager_id,
    Case.escalation_level,
    Case.reopen_count,
    Case.rating,
    Case.duplicate_of,
    Case.followers,
    Case.created_at,
    Case.ack_due_at,
    Case.resolve_due_at,
    Case.acknowledged_at,
    Case.resolved_at,
    Case.closed_at,
)


@dataclass(frozen=True, slots=True)
class CaseLine:
    """One line of the ``cases list`` table."""

    number: int
    status: str
    community_name: str
    category_name: str
    manager: str | None
    created: str  # local "YYYY-MM-DD HH:MM"
    location: str


def _iso(value: datetime | None, tz: tzinfo) -> str | None:
    """ISO 8601 in local time, with its offset."""
    return value.astimezone(tz).isoformat(timespec="seconds") if value is not None else None


def case_json(
    case: Mapping[str, Any],
    tz: tzinfo,
    *,
    names: dict[str, tuple[str, str]] | None = None,
    events: Sequence[CaseEvent] | None = None,
) -> dict[str, Any]:
    """A case's columns by name (at least ``JSON_COLUMNS``) as the contract's JSON object;
    ``events`` included when given."""
    names = names or {}
    community, category = case["community_id"], case["category_id"]
    data: dict[str, Any] = {
        "number": case["number"],
        "status": case["status"],
        "community": community,
        "community_name": names.get(f"community:{community}", (community,))[0],
        "category": category,
        "category_name": names.get(f"category:{category}", (category,))[0],
        "location": case["location"],
        "description": case["description"],
        "channel": case["channel"],
        "resident": case["resident_id"],
        "manager": case["manager_id"],
        "manager_name": _name(names, "person", case["manager_id"]),
        "escalation_level": case["escalation_level"],
        "reopen_count": case["reopen_count"],
        "rating": case["rating"],
        "duplicate_of": case["duplicate_of"],
        "followers": case["followers"],
        "created_at": _iso(case["created_at"], tz),
        "ack_due_at": _iso(case["ack_due_at"], tz),
        "resolve_due_at": _iso(case["resolve_due_at"], tz),
        "acknowledged_at": _iso(case["acknowledged_at"], tz),
        "resolved_at": _iso(case["resolved_at"], tz),
        "closed_at": _iso(case["closed_at"], tz),
    }
    if events is not None:
        data["events"] = [
            {
                "at": _iso(e.at, tz),
                "kind": e.kind,
                "actor": e.actor_id,
                "actor_name": _name(names, "person", e.actor_id),
                "channel": e.channel,
                "note": e.note,
                "photos": list(event_photos(e)),  # the photos it brought, by position
            }
            for e in events
        ]
    return data


def _name(names: dict[str, tuple[str, str]], kind: str, key: str | None) -> str | None:
    """A display name from ``names``, else the id itself."""
    return names.get(f"{kind}:{key}", (key,))[0] if key else None


async def _names(ctx: ServiceContext, language: str) -> dict[str, tuple[str, str]]:
    """Display names of communities and categories in ``language``."""
    async with ctx.db.reading() as session:
        communities = (await session.exec(select(Community))).all()
        categories = (await session.exec(select(Category))).all()
    english = language == "en"
    return {
        **{f"community:{c.id}": (c.name_en if english else c.name_zh, c.id) for c in communities},
        **{f"category:{c.id}": (c.name_en if english else c.name_zh, c.id) for c in categories},
    }


async def show_case(ctx: ServiceContext, *, number: int) -> dict[str, Any] | None:
    """One case with its events, photos and followers, or None."""
    names = await _names(ctx, ctx.default_language)
    async with ctx.db.reading() as session:
        case = await queries.get_case(session=session, number=number)
        if case is None:
            return None
        events = await queries.case_events(session=session, number=number)
        tz = await zone(session)
        photos = await _photos(session, number)
        following = await _following(session, number, tz)
        for person_id in {e.actor_id for e in events} | {case.manager_id, case.resident_id}:
            person = await queries.get_person(session=session, person_id=person_id or "")
            if person is not None:
                names[f"person:{person.id}"] = (person.name, person.id)
    data = case_json(case.model_dump(), tz, names=names, events=events)
    return data | {"photos": photos, "following": following}


async def _following(session: AsyncSession, number: int, tz: tzinfo) -> list[dict[str, Any]]:
    """Who follows a case, in the order they began to: the person by id only (as ``resident``
    names the reporter), the channel they hear it on, since when, the case a merge brought them
    from, and their latest rating as feedback."""
    query = (
        select(CaseFollower)
        .where(CaseFollower.case_number == number)
        .order_by(col(CaseFollower.id))
    )
    return [
        {
            "person": row.person_id,
            "channel": row.channel,
            "since": _iso(row.since, tz),
            "via_case": row.via_case,
            "rating": row.rating,
        }
        for row in (await session.exec(query)).all()
    ]


async def _photos(session: AsyncSession, number: int) -> list[dict[str, Any]]:
    """A case's photos, in order, as ``cases show --json`` lists them (never their bytes):
    ``telegram_file`` (only Telegram's file id is kept) or ``stored`` (the image is kept)."""
    stored = col(CasePhoto.content).is_not(None).label("stored")
    query = (
        select_columns(
            col(CasePhoto.position),
            col(CasePhoto.source),
            col(CasePhoto.content_type),
            col(CasePhoto.size),
            stored,
        )
        .where(col(CasePhoto.case_number) == number)
        .order_by(col(CasePhoto.position))
    )
    return [
        {
            "position": position,
            "kind": "stored" if is_stored else "telegram_file",
            "source": source,
            "content_type": content_type,
            "size": size,
        }
        for position, source, content_type, size, is_stored in await _rows(session, query)
    ]


async def _rows(session: AsyncSession, query: Executable) -> list[Any]:
    """Plain rows of a column query (the session's ``exec`` is for whole models)."""
    return list((await (await session.connection()).execute(query)).all())


def _listed(
    columns: Sequence[Any], statuses: Sequence[str] | None, community: str | None
) -> Select[Any]:
    """The cases asked for: only ``columns`` of them (``keyset.batches`` orders them)."""
    query = select_columns(*columns)
    if statuses:
        query = query.where(col(Case.status).in_(statuses))
    if community:
        query = query.where(col(Case.community_id) == community)
    return query


async def _batches(
    ctx: ServiceContext, query: Select[Any], limit: int | None, size: int = keyset.BATCH
) -> AsyncIterator[list[Any]]:
    """The rows of ``query`` oldest first, a bounded batch at a time, at most ``limit`` of them."""
    left = limit
    async for rows in keyset.batches(ctx, query, col(Case.number), size):
        if left is not None:
            rows, left = rows[:left], left - len(rows[:left])
        if rows:
            yield rows
        if left == 0:
            return


async def case_batches(
    ctx: ServiceContext,
    *,
    statuses: Sequence[str] | None = None,
    community: str | None = None,
    limit: int | None = None,
    batch: int = keyset.BATCH,
) -> AsyncIterator[list[dict[str, Any]]]:
    """Cases as the contract's JSON, oldest first, filtered by status and community when given
    (the command line asks for the open ones unless told otherwise), ``batch`` at most at a time:
    what ``cases list --json`` streams, in memory that does not grow with the cases."""
    names = await _names(ctx, ctx.default_language)
    async with ctx.db.reading() as session:
        tz = await zone(session)
    async for rows in _batches(ctx, _listed(JSON_COLUMNS, statuses, community), limit, batch):
        # By name from each row's mapping: a third the time of attribute access.
        yield [case_json(row._mapping, tz, names=names) for row in rows]


async def list_cases(
    ctx: ServiceContext,
    *,
    statuses: Sequence[str] | None = None,
    community: str | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """The cases ``case_batches`` gives, as one list."""
    found: list[dict[str, Any]] = []
    async for batch in case_batches(ctx, statuses=statuses, community=community, limit=limit):
        found += batch
    return found


async def case_lines(
    ctx: ServiceContext,
    *,
    statuses: Sequence[str] | None = None,
    community: str | None = None,
    limit: int | None = None,
) -> list[CaseLine]:
    """What the ``cases list`` table shows of the same cases as ``list_cases``."""
    names = await _names(ctx, ctx.default_language)
    columns = (
        Case.number,
        Case.status,
        Case.community_id,
        Case.category_id,
        Case.manager_id,
        Case.created_at,
        Case.location,
    )
    async with ctx.db.reading() as session:
        tz = await zone(session)
    rows = [r async for b in _batches(ctx, _listed(columns, statuses, community), limit) for r in b]
    return [
        CaseLine(
            number=number,
            status=status,
            community_name=names.get(f"community:{community_id}", (community_id,))[0],
            category_name=names.get(f"category:{category_id}", (category_id,))[0],
            manager=manager,
            created=(_iso(created, tz) or "")[:16].replace("T", " "),
            location=location,
        )
        for number, status, community_id, category_id, manager, created, location in rows
    ]


async def person_name(ctx: ServiceContext, *, person_id: str) -> str:
    """A person's display name, or their id when unknown."""
    async with ctx.db.reading() as session:
        person = await queries.get_person(session=session, person_id=person_id)
    return person.name if person is not None else person_id
