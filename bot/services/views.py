"""Read-only views of cases for the command line and scripts (CONTRACT §8 field names)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import Any

from sqlmodel import col, select

from db import queries
from db.models import Case, CaseEvent, Category, Community

from .context import ServiceContext
from .levels import zone

CASE_FIELDS = (
    "number",
    "status",
    "community",
    "category",
    "location",
    "description",
    "channel",
    "manager",
    "escalation_level",
    "reopen_count",
    "rating",
    "created_at",
    "acknowledged_at",
    "resolved_at",
    "closed_at",
)


def _iso(value: datetime | None, tz: tzinfo) -> str | None:
    """ISO 8601 in local time, with its offset."""
    return value.astimezone(tz).isoformat(timespec="seconds") if value is not None else None


def case_json(
    case: Case,
    tz: tzinfo,
    *,
    names: dict[str, tuple[str, str]] | None = None,
    events: Sequence[CaseEvent] | None = None,
) -> dict[str, Any]:
    """A case as the contract's JSON object; ``events`` included when given."""
    names = names or {}
    data: dict[str, Any] = {
        "number": case.number,
        "status": case.status,
        "community": case.community_id,
        "community_name": names.get(f"community:{case.community_id}", (case.community_id,))[0],
        "category": case.category_id,
        "category_name": names.get(f"category:{case.category_id}", (case.category_id,))[0],
        "location": case.location,
        "description": case.description,
        "channel": case.channel,
        "resident": case.resident_id,
        "manager": case.manager_id,
        "manager_name": _name(names, "person", case.manager_id),
        "escalation_level": case.escalation_level,
        "reopen_count": case.reopen_count,
        "rating": case.rating,
        "duplicate_of": case.duplicate_of,
        "created_at": _iso(case.created_at, tz),
        "ack_due_at": _iso(case.ack_due_at, tz),
        "resolve_due_at": _iso(case.resolve_due_at, tz),
        "acknowledged_at": _iso(case.acknowledged_at, tz),
        "resolved_at": _iso(case.resolved_at, tz),
        "closed_at": _iso(case.closed_at, tz),
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
    """One case with its events, or None."""
    names = await _names(ctx, ctx.default_language)
    async with ctx.db.reading() as session:
        case = await queries.get_case(session=session, number=number)
        if case is None:
            return None
        events = await queries.case_events(session=session, number=number)
        tz = await zone(session)
        for person_id in {e.actor_id for e in events} | {case.manager_id, case.resident_id}:
            person = await queries.get_person(session=session, person_id=person_id or "")
            if person is not None:
                names[f"person:{person.id}"] = (person.name, person.id)
    return case_json(case, tz, names=names, events=events)


async def list_cases(
    ctx: ServiceContext,
    *,
    statuses: Sequence[str] | None = None,
    community: str | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Cases, oldest first, filtered by status and community when given (the command line asks
    for the open ones unless told otherwise)."""
    names = await _names(ctx, ctx.default_language)
    query = select(Case).order_by(col(Case.number))
    if statuses:
        query = query.where(col(Case.status).in_(statuses))
    if community:
        query = query.where(Case.community_id == community)
    if limit:
        query = query.limit(limit)
    async with ctx.db.reading() as session:
        cases = (await session.exec(query)).all()
        tz = await zone(session)
    return [case_json(case, tz, names=names) for case in cases]


async def person_name(ctx: ServiceContext, *, person_id: str) -> str:
    """A person's display name, or their id when unknown."""
    async with ctx.db.reading() as session:
        person = await queries.get_person(session=session, person_id=person_id)
    return person.name if person is not None else person_id


async def local_zone(ctx: ServiceContext) -> tzinfo:
    """The directory's time zone."""
    async with ctx.db.reading() as session:
        return await zone(session)
