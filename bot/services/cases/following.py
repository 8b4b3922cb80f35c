"""One case per problem, from the resident's side: the open cases a new report is offered, and
following one instead of reporting it again — with a note or a photo, and a follower's rating
heard as feedback (docs/reference.md §4)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, exists
from sqlalchemy import select as select_columns
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.cases import photos
from bot.services.cases.announce import announce
from bot.services.cases.parties import load_parties
from bot.services.cases.photos import MAX_PHOTOS, NewPhoto
from bot.services.cases.routing import policy_for
from bot.services.cases.scene import Scene, both, scene_of
from bot.services.unit.context import Actor, ServiceRefusal, Unit
from core.cases import OPEN_STATUSES, EventKind, Status
from core.clean import cap, clean
from core.texts import render
from db import queries
from db.models import Case, CaseEvent, CaseFollower, Person

MAX_SUGGESTIONS = 3  # more than three to read is a list nobody reads on a phone
MAX_NOTE = 500  # a follower's note: a few lines for the holder, not a second report
_OPEN = [s.value for s in OPEN_STATUSES]


@dataclass(frozen=True, slots=True)
class Suggestion:
    """An open case a new report may be the same problem as: what its button says."""

    number: int
    location: str
    building: str
    status: str
    created_at: datetime
    followers: int

    def label(self, language: str, now: datetime) -> str:
        """``#12 · 172号楼 · 处理中 · 2 小时前 · 3 人关注`` in ``language``."""
        place = self.location or render(language, "follow.no_place")
        status = render(language, f"status.{self.status}")
        return render(
            language,
            "follow.choice",
            number=self.number,
            place=place[:24],
            status=status,
            ago=ago(language, now - self.created_at),
            concerns=self.followers + 1,
        )


def ago(language: str, elapsed: timedelta) -> str:
    """How long ago, in the reader's words: minutes, hours or days."""
    minutes = max(int(elapsed.total_seconds() // 60), 0)
    if minutes < 60:
        return render(language, "ago.minutes", count=max(minutes, 1))
    if minutes < 48 * 60:
        return render(language, "ago.hours", count=minutes // 60)
    return render(language, "ago.days", count=minutes // (24 * 60))


def suggestion_query(
    *,
    community_id: str,
    category_id: str,
    building: str,
    since: datetime,
    exclude_resident: str | None = None,
    exclude_case: int | None = None,
    limit: int = MAX_SUGGESTIONS,
) -> Select[int | None, str, str, str, datetime, int]:
    """The one statement behind a suggestion: open cases of the community and category — of the
    building, when the report names one — reported since ``since``, newest first. It reads one
    range of ``ix_cases_suggest`` (bench/suggest.py); the async path and the writer's run it."""
    query = select_columns(
        col(Case.number),
        col(Case.location),
        col(Case.building),
        col(Case.status),
        col(Case.created_at),
        col(Case.followers),
    ).where(
        col(Case.community_id) == community_id,
        col(Case.category_id) == category_id,
        col(Case.created_at) >= since,
        col(Case.status).in_(_OPEN),
    )
    if building:
        query = query.where(col(Case.building) == building)
    if exclude_resident is not None:
        # Not their own reports, nor what they follow already: nothing to offer them there.
        query = query.where(
            col(Case.resident_id) != exclude_resident,
            ~exists().where(
                col(CaseFollower.case_number) == col(Case.number),
                col(CaseFollower.person_id) == exclude_resident,
            ),
        )
    if exclude_case is not None:
        query = query.where(col(Case.number) != exclude_case)
    return query.order_by(col(Case.created_at).desc()).limit(limit)


def suggestions_of(rows: Any) -> list[Suggestion]:
    """Rows of ``suggestion_query`` as suggestions."""
    return [Suggestion(*row) for row in rows]


async def suggestions(
    session: AsyncSession,
    *,
    community_id: str,
    category_id: str,
    building: str,
    now: datetime,
    exclude_resident: str | None = None,
    exclude_case: int | None = None,
    limit: int = MAX_SUGGESTIONS,
) -> list[Suggestion]:
    """The open cases a report of this community, category and building may be the same
    problem as, within the category's follow window, newest first (at most ``limit``)."""
    policy = await policy_for(session=session, category_id=category_id)
    if not policy.levels.follow_window:
        return []  # the category's window is off (``follow_window: 0s``)
    query = suggestion_query(
        community_id=community_id,
        category_id=category_id,
        building=building,
        since=now - policy.levels.follow_window,
        exclude_resident=exclude_resident,
        exclude_case=exclude_case,
        limit=limit,
    )
    # Through the session's connection: a plain column select, in the session's transaction.
    return suggestions_of((await (await session.connection()).execute(query)).all())


async def follow_in(
    unit: Unit,
    *,
    person: Person,
    number: int,
    channel: str,
    note: str = "",
) -> Case:
    """``person`` follows open case ``number`` instead of reporting it again: they are told,
    they hear its steps from now on, and the holder's card counts them. Refused for a case that
    is not open, their own, or one they follow already."""
    case = await queries.get_case(session=unit.session, number=number, lock=True)
    if case is None:
        raise ServiceRefusal("refused.no_such_case", {"number": number})
    if not Status(case.status).is_open:
        raise ServiceRefusal("refused.follow_closed", {"number": number})
    if case.resident_id == person.id:
        raise ServiceRefusal("refused.follow_own", {"number": number})
    if await _follower(unit.session, number, person.id) is not None:
        raise ServiceRefusal("refused.follow_again", {"number": number})
    before = await load_parties(session=unit.session, case=case)
    unit.session.add(
        CaseFollower(case_number=number, person_id=person.id, channel=channel, since=unit.now)
    )
    case.followers += 1
    case.updated_at = unit.now
    data: dict[str, object] = {"followers": case.followers}
    events = [_event(unit, case, EventKind.FOLLOWED, person.id, channel, "", data)]
    note = clean(note)
    if note:
        given: dict[str, object] = {"with_follow": True}
        events.append(_event(unit, case, EventKind.COMMENTED, person.id, channel, note, given))
    await _announce(unit, case, events, before)
    return case


async def comment_in(
    unit: Unit,
    *,
    person: Person,
    number: int,
    channel: str,
    note: str = "",
    photo: NewPhoto | None = None,
) -> Case:
    """A follower adds a short note or a photo: it joins the case's timeline and its photos, and
    reaches whoever holds it now."""
    case = await queries.get_case(session=unit.session, number=number, lock=True)
    if case is None or await _follower(unit.session, number, person.id) is None:
        raise ServiceRefusal("refused.no_case_of_yours", {"number": number})
    if not Status(case.status).is_open:
        params = {"number": number, "status": both(f"status.{case.status}")}
        raise ServiceRefusal("refused.closed", params)
    note = cap(clean(note), MAX_NOTE)[0]
    data: dict[str, object] = {}
    if photo is not None:
        positions = await photos.append(unit.session, number, [photo], unit.now)
        if not positions:
            raise ServiceRefusal("refused.photos_full", {"number": number, "limit": MAX_PHOTOS})
        data["photo"] = positions[0]
    if not note and photo is None:
        raise ServiceRefusal("refused.empty_description")
    before = await load_parties(session=unit.session, case=case)
    case.updated_at = unit.now
    event = _event(unit, case, EventKind.COMMENTED, person.id, channel, note, data)
    await _announce(unit, case, [event], before)
    return case


async def record_feedback(session: AsyncSession, case: Case, actor: Actor, rating: str) -> None:
    """Keep a follower's latest rating on their follow (the event records each one)."""
    assert case.number is not None
    if actor.person_id is None:
        return
    row = await _follower(session, case.number, actor.person_id)
    if row is not None:
        row.rating = rating
        session.add(row)


async def followed_numbers(session: AsyncSession, person_id: str, *, limit: int = 10) -> list[int]:
    """The cases ``person_id`` follows, newest first (``/mycases`` and ``查询`` list them too)."""
    query = (
        select(CaseFollower.case_number)
        .where(CaseFollower.person_id == person_id)
        .order_by(col(CaseFollower.case_number).desc())
        .limit(limit)
    )
    return list((await session.exec(query)).all())


async def _follower(session: AsyncSession, number: int, person_id: str) -> CaseFollower | None:
    query = select(CaseFollower).where(
        CaseFollower.case_number == number, CaseFollower.person_id == person_id
    )
    return (await session.exec(query)).first()


def _event(
    unit: Unit,
    case: Case,
    kind: EventKind,
    actor_id: str,
    channel: str,
    note: str,
    data: dict[str, object],
) -> CaseEvent:
    assert case.number is not None
    return CaseEvent(
        case_number=case.number,
        at=unit.now,
        kind=kind.value,
        actor_id=actor_id,
        channel=channel,
        note=note,
        data=data,
    )


async def _announce(unit: Unit, case: Case, events: list[CaseEvent], before: Any) -> None:
    """Record the events and tell whom they call for (a photo goes with the holder's message)."""
    unit.session.add_all(events)
    await unit.session.flush()
    after = await load_parties(session=unit.session, case=case)
    policy = await policy_for(session=unit.session, category_id=case.category_id)
    scene: Scene = await scene_of(unit.session, case, policy)
    await announce(unit.outbox, scene, events, before=before, after=after)
