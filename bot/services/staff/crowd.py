"""The crowd around one case, as the staff console reads it: who follows it (by which channel,
with their feedback), which cases were merged into it, whether the reader may undo its own
merge, and the open cases it may be the same problem as. Read only, in the page's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.cases.following import Suggestion, suggestions
from bot.services.data.held import embedded
from core.access import unmerge_refusal
from core.cases import EventKind, Relation, Status
from db import queries
from db.models import Case, CaseEvent, CaseFollower, Identity

MAX_FOLLOWERS = 100  # listed by name; the count says how many there are in all
MAX_LIKELY = 5  # a desk worker reads more than a resident on a phone, but not a whole list
_MERGES = (EventKind.MERGED, EventKind.MERGED_IN, EventKind.UNMERGED, EventKind.MERGE_UNDONE)
_RATINGS = (EventKind.RATED, EventKind.FEEDBACK)
_HANDED = (EventKind.ROUTED, EventKind.REASSIGNED)  # their data names the new holder
_LEVELS = (EventKind.ESCALATED, EventKind.REOPENED)  # their data has the level reached


@dataclass(frozen=True, slots=True)
class Follower:
    """A resident following the case: their name and the addresses it may hold (the page masks
    them), the channel they hear it on, since when, the case a merge brought them from, and
    their latest rating as feedback."""

    person_id: str
    name: str
    addresses: tuple[str, ...]
    channel: str
    since: str
    via_case: int | None
    rating: str | None


async def followers_of(session: AsyncSession, case: Case, tz: tzinfo) -> tuple[Follower, ...]:
    """The first ``MAX_FOLLOWERS`` followers of ``case``, in the order they began to."""
    query = (
        select(CaseFollower)
        .where(CaseFollower.case_number == case.number)
        .order_by(col(CaseFollower.id))
        .limit(MAX_FOLLOWERS)
    )
    rows = (await session.exec(query)).all()
    ids = [r.person_id for r in rows]
    people = await queries.people(session=session, ids=ids)
    known = select(Identity.person_id, Identity.address).where(col(Identity.person_id).in_(ids))
    addresses: dict[str, list[str]] = {i: [] for i in ids}
    for person_id, address in (await session.exec(known)).all():
        addresses[person_id].append(address)
    found = []
    for row in rows:
        person = people.get(row.person_id)
        own = embedded(person) if person is not None else None
        found.append(
            Follower(
                person_id=row.person_id,
                name=person.name if person is not None else row.person_id,
                addresses=(*addresses[row.person_id], *([own] if own else [])),
                channel=row.channel,
                since=row.since.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                via_case=row.via_case,
                rating=row.rating,
            )
        )
    return tuple(found)


def event_details(event: CaseEvent, chain: Sequence[str]) -> dict[str, Any]:
    """What the timeline says of an event beyond its note: the other case of a merge, a rating,
    the person it was handed to, the role of the level it was escalated to (``chain``), whether
    it is internal (a note residents never see)."""
    data = event.data or {}
    found: dict[str, Any] = {"internal": bool(data.get("internal"))}
    if event.kind in _RATINGS and isinstance(data.get("rating"), str):
        found["rating"] = data["rating"]
    other = data.get("into", data.get("from"))
    if event.kind in _MERGES and isinstance(other, int):
        found["other"] = other
    if event.kind in _HANDED and isinstance(data.get("manager"), str):
        found["manager"] = data["manager"]
    level = data.get("level")
    if event.kind in _LEVELS and isinstance(level, int) and chain:
        found["level"] = chain[min(max(level, 0), len(chain) - 1)]
    return found


def merged_from(events: Sequence[CaseEvent]) -> tuple[int, ...]:
    """The cases merged into this one, from its timeline: merged in, and not taken back out."""
    found: dict[int, None] = {}
    for event in events:
        other = (event.data or {}).get("from")
        if not isinstance(other, int):
            continue
        if event.kind == EventKind.MERGED_IN:
            found[other] = None
        elif event.kind == EventKind.MERGE_UNDONE:
            found.pop(other, None)
    return tuple(found)


async def may_unmerge(
    session: AsyncSession, case: Case, relations: frozenset[Relation], events: Sequence[CaseEvent]
) -> bool:
    """True when the reader may undo this case's merge now (the service decides when asked)."""
    if case.duplicate_of is None or not any(e.kind == EventKind.MERGED for e in events):
        return False
    original = await queries.get_case(session=session, number=case.duplicate_of)
    status = Status(original.status) if original is not None else None
    return unmerge_refusal(case.duplicate_of, status, relations) is None


async def likely_duplicates(
    session: AsyncSession, case: Case, now: datetime
) -> tuple[Suggestion, ...]:
    """The open cases ``case`` may be the same problem as: its community, category and building,
    within the category's follow window, newest first."""
    found = await suggestions(
        session,
        community_id=case.community_id,
        category_id=case.category_id,
        building=case.building,
        now=now,
        exclude_case=case.number,
        limit=MAX_LIKELY,
    )
    return tuple(found)
