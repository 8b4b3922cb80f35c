"""One case per problem, from the staff's side: merge a duplicate B into the case A that carries
the problem on — B's reporter and followers follow A, B ends rejected with ``duplicate_of`` A and
counts in no rate — and undo it while A is open (B as it was). Each is one transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.cases.announce import announce
from bot.services.cases.parties import Parties, load_parties
from bot.services.cases.routing import policy_for
from bot.services.cases.scene import scene_of
from bot.services.unit.context import Actor, ServiceContext, ServiceRefusal, Unit
from bot.services.unit.inbound import Inbound
from bot.services.unit.work import unit_of_work
from core.access import merge_refusal, unmerge_refusal
from core.cases import EventKind, Status
from core.clean import clean
from db import queries
from db.models import Case, CaseEvent, CaseFollower

# What a merge keeps of B to put back when it is undone.
_KEPT = ("status", "manager_id", "escalation_level", "reminders_sent")


async def merge(
    ctx: ServiceContext,
    *,
    number: int,
    into: int,
    actor: Actor,
    note: str = "",
    inbound: Inbound | None = None,
) -> Case:
    """Merge case ``number`` (B) into case ``into`` (A); return B."""
    async with unit_of_work(ctx, inbound) as unit:
        return await merge_in(unit, number=number, into=into, actor=actor, note=note)


async def merge_in(unit: Unit, *, number: int, into: int, actor: Actor, note: str = "") -> Case:
    """``merge`` within a transaction the caller holds (a staff member's answer "#12")."""
    session, now = unit.session, unit.now
    duplicate, original = await _both(session, number, into)
    if duplicate is None:
        raise ServiceRefusal("refused.no_such_case", {"number": number})
    before = await load_parties(session=session, case=duplicate)
    relations = before.relations(actor.person_id, system=actor.is_system)
    reason = merge_refusal(
        Status(duplicate.status),
        Status(original.status) if original is not None else None,
        relations,
        same_case=number == into,
        same_community=original is not None and original.community_id == duplicate.community_id,
    )
    if reason is not None:
        params = {"number": number, "original": into, "status": duplicate.status}
        raise ServiceRefusal(reason, params)
    assert original is not None
    kept: dict[str, Any] = {name: getattr(duplicate, name) for name in _KEPT}
    kept["next_due_at"] = duplicate.next_due_at.isoformat() if duplicate.next_due_at else None
    duplicate.status = Status.REJECTED.value
    duplicate.duplicate_of = into
    duplicate.closed_at = duplicate.updated_at = now
    duplicate.next_due_at = None
    brought = await _bring(session, before, original, number, now)
    original.followers += len(brought)
    original.updated_at = now
    note = clean(note)
    merged = _event(now, number, EventKind.MERGED, actor, note, {"into": into, "before": kept})
    merged_in = _event(now, into, EventKind.MERGED_IN, actor, note, {"from": number})
    merged_in.data["followers"] = len(brought)
    await _tell(unit, duplicate, [merged], before)
    await _tell(unit, original, [merged_in], await load_parties(session=session, case=original))
    return duplicate


async def unmerge(
    ctx: ServiceContext, *, number: int, actor: Actor, inbound: Inbound | None = None
) -> Case:
    """Undo the merge of case ``number``: it is handled on its own again, as it was."""
    async with unit_of_work(ctx, inbound) as unit:
        return await unmerge_in(unit, number=number, actor=actor)


async def unmerge_in(unit: Unit, *, number: int, actor: Actor) -> Case:
    """``unmerge`` within a transaction the caller holds."""
    session, now = unit.session, unit.now
    into = await _merged_into(session, number)
    duplicate, original = await _both(session, number, into or number)
    if duplicate is None:
        raise ServiceRefusal("refused.no_such_case", {"number": number})
    before = await load_parties(session=session, case=duplicate)
    relations = before.relations(actor.person_id, system=actor.is_system)
    merged = into if duplicate.duplicate_of == into else None
    status = Status(original.status) if original is not None and merged else None
    reason = unmerge_refusal(merged, status, relations)
    if reason is not None:
        raise ServiceRefusal(reason, {"number": number, "original": into or "-"})
    assert original is not None
    assert into is not None
    kept = await _kept(session, number)
    for name in _KEPT:
        setattr(duplicate, name, kept[name])
    due = kept.get("next_due_at")
    duplicate.next_due_at = datetime.fromisoformat(due) if due else None
    duplicate.duplicate_of = None
    duplicate.closed_at = None
    duplicate.updated_at = now
    taken = await session.exec(
        delete(CaseFollower).where(
            col(CaseFollower.case_number) == into, col(CaseFollower.via_case) == number
        )
    )
    original.followers = max(original.followers - (taken.rowcount or 0), 0)
    original.updated_at = now
    unmerged = _event(now, number, EventKind.UNMERGED, actor, "", {"from": into})
    undone = _event(now, into, EventKind.MERGE_UNDONE, actor, "", {"from": number})
    # Told with the people B had before the merge as "before": its manager gets a fresh card.
    await _tell(unit, duplicate, [unmerged], Parties(None, None, (), ()))
    await _tell(unit, original, [undone], await load_parties(session=session, case=original))
    return duplicate


async def _both(session: AsyncSession, number: int, into: int) -> tuple[Case | None, Case | None]:
    """Both cases, locked in number order (two merges the other way round cannot deadlock)."""
    found: dict[int, Case | None] = {}
    for n in sorted({number, into}):
        found[n] = await queries.get_case(session=session, number=n, lock=True)
    return found[number], found[into]


async def _bring(
    session: AsyncSession, parties: Parties, original: Case, via: int, now: datetime
) -> list[str]:
    """Make B's reporter and followers followers of A (not A's reporter, nor anyone already
    following A); the ids brought."""
    assert original.number is not None
    following = set(await queries.follower_ids(session=session, number=original.number))
    brought: list[str] = []
    for person in (parties.resident, *parties.followers):
        if person is None or person.id == original.resident_id or person.id in following:
            continue
        following.add(person.id)
        brought.append(person.id)
        session.add(
            CaseFollower(
                case_number=original.number,
                person_id=person.id,
                channel=await _channel_of(session, person.id, via),
                via_case=via,
                since=now,
            )
        )
    return brought


async def _channel_of(session: AsyncSession, person_id: str, number: int) -> str:
    """The channel ``person_id`` came to case ``number`` by: its own, or their follow of it."""
    case = await queries.get_case(session=session, number=number)
    if case is not None and case.resident_id == person_id:
        return case.channel
    query = select(CaseFollower.channel).where(
        CaseFollower.case_number == number, CaseFollower.person_id == person_id
    )
    return (await session.exec(query)).first() or "system"


async def _merged_into(session: AsyncSession, number: int) -> int | None:
    case = await queries.get_case(session=session, number=number)
    return case.duplicate_of if case is not None else None


async def _kept(session: AsyncSession, number: int) -> dict[str, Any]:
    """What the latest merge of B kept of it (its status, holder and timer before)."""
    query = (
        select(CaseEvent)
        .where(CaseEvent.case_number == number, CaseEvent.kind == EventKind.MERGED.value)
        .order_by(col(CaseEvent.id).desc())
        .limit(1)
    )
    event = (await session.exec(query)).first()
    if event is None or "before" not in event.data:
        raise ServiceRefusal("refused.not_merged", {"number": number})
    return dict(event.data["before"])


def _event(
    now: datetime, number: int, kind: EventKind, actor: Actor, note: str, data: dict[str, Any]
) -> CaseEvent:
    return CaseEvent(
        case_number=number,
        at=now,
        kind=kind.value,
        actor_id=actor.person_id,
        channel=actor.channel,
        note=note,
        data=data,
    )


async def _tell(unit: Unit, case: Case, events: list[CaseEvent], before: Parties) -> None:
    unit.session.add_all(events)
    await unit.session.flush()
    after = await load_parties(session=unit.session, case=case)
    policy = await policy_for(session=unit.session, category_id=case.category_id)
    scene = await scene_of(unit.session, case, policy)
    await announce(unit.outbox, scene, events, before=before, after=after)
