"""Every step after the report — acknowledge, resolve, decline, rate, reassign, reject, close,
cancel, escalate, remind, close unrated — as one transaction each.

Each step locks the case, checks the actor's right through ``core.cases.apply`` and, for a
reassignment, the new holder's through ``core.access`` — here, so every channel (console,
Telegram, SMS, command line) is held to the same rule — then writes the new state, its events and
the outbox rows together, or raises ``ServiceRefusal`` and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.cases import photos
from bot.services.cases.announce import announce
from bot.services.cases.following import record_feedback
from bot.services.cases.merge import merge_in
from bot.services.cases.parties import load_parties
from bot.services.cases.photos import NewPhoto
from bot.services.cases.routing import Policy, policy_for
from bot.services.cases.scene import both, scene_of, state_of
from bot.services.unit.context import Actor, ServiceContext, ServiceRefusal, Unit
from bot.services.unit.inbound import Inbound
from bot.services.unit.work import unit_of_work
from core.access import city_refusal, handover_refusal
from core.cases import Action, CaseState, EventKind, Rating, Refusal, apply
from core.clean import MAX_DESCRIPTION, cap, clean
from core.due import next_due_at
from db import open311, queries
from db.models import Case, CaseEvent


@dataclass(frozen=True, slots=True)
class Request:
    """An action with its arguments: a rating, a new manager, a note (for ``ASK``, the
    question), photos of the fix with a resolution; a rejection with ``duplicate_of`` is a
    merge into that case (``merge.merge_in``)."""

    action: Action
    rating: Rating | None = None
    manager_id: str | None = None
    duplicate_of: int | None = None
    note: str = ""
    photos: tuple[NewPhoto, ...] = ()


async def act(
    ctx: ServiceContext,
    *,
    number: int,
    actor: Actor,
    request: Request,
    inbound: Inbound | None = None,
) -> Case:
    """Apply ``request`` by ``actor`` to case ``number`` in one transaction; return the case.

    With ``inbound``, a replay of the same update raises ``AlreadyHandled`` and does nothing.
    """
    async with unit_of_work(ctx, inbound) as unit:
        return await act_in(unit, number=number, actor=actor, request=request)


async def act_on(ctx: ServiceContext, inbound: Inbound, *, number: int, request: Request) -> Case:
    """``act`` for the sender of ``inbound`` (a button, a reply code), in its unit of work."""
    async with unit_of_work(ctx, inbound) as unit:
        return await act_in(unit, number=number, actor=unit.actor(), request=request)


async def act_in(unit: Unit, *, number: int, actor: Actor, request: Request) -> Case:
    """``act`` within a transaction the caller holds (with other work of the same use case)."""
    session, now = unit.session, unit.now
    # A note (a question to the reporter too) is shown like a description, and bounded like one.
    request = replace(request, note=cap(clean(request.note), MAX_DESCRIPTION)[0])
    if request.action is Action.REJECT and request.duplicate_of is not None:
        # A duplicate is merged: its people follow the original (docs/reference.md §4).
        into = request.duplicate_of
        return await merge_in(unit, number=number, into=into, actor=actor, note=request.note)
    case = await queries.get_case(session=session, number=number, lock=True)
    if case is None:
        raise ServiceRefusal("refused.no_such_case", {"number": number})
    before = await load_parties(session=session, case=case)
    policy = await policy_for(session=session, category_id=case.category_id)
    result = apply(
        state_of(case),
        request.action,
        before.relations(actor.person_id, system=actor.is_system),
        rating=request.rating,
        new_manager_id=request.manager_id,
        chain_length=len(policy.chain),
    )
    if isinstance(result, Refusal):
        raise ServiceRefusal(
            result.reason, {"number": number, "status": both(f"status.{case.status}")}
        )
    # After the actor's right: someone who may not act learns nothing of who may hold the case.
    await _check_arguments(session, request, case, actor)
    _write_state(case, result.state, request, policy, now)
    if request.action is Action.ASK:
        case.asked_by, case.asked_at = actor.person_id, now  # the reporter's next message answers
    fixed = request.action is Action.RESOLVE and request.photos
    extra = await photos.keep_fix(session, number, request.photos, now) if fixed else {}
    events = [
        CaseEvent(
            case_number=number,
            at=now,
            kind=kind.value,
            actor_id=actor.person_id,
            channel=actor.channel,
            note=request.note,
            data=_event_data(kind, request, case) | extra,
        )
        for kind in result.events
    ]
    session.add_all(events)
    if request.rating is not None and EventKind.FEEDBACK in result.events:
        await record_feedback(session, case, actor, request.rating.value)
    await session.flush()
    after = await load_parties(session=session, case=case)
    scene = await scene_of(session, case, policy)
    await announce(unit.outbox, scene, events, before=before, after=after)
    return case


async def _check_arguments(
    session: AsyncSession, request: Request, case: Case, actor: Actor
) -> None:
    """Refuse arguments that name nobody or nothing — an unknown manager, a missing original —
    a new holder the case's community may not be handed to, and a city not the case's."""
    number = case.number
    covered = await open311.city_communities(session=session, actor_id=actor.person_id)
    if (refused := city_refusal(actor.person_id, covered, case.community_id)) is not None:
        raise ServiceRefusal(refused, {"number": number})
    if request.action is Action.REASSIGN and request.manager_id:
        person = await queries.get_person(session=session, person_id=request.manager_id)
        reason = handover_refusal(
            person,
            community=case.community_id,
            routes=await queries.routes(session=session),
            system=actor.is_system,
        )
        if reason is not None:
            # The id as the actor gave it: a name would tell them who stands behind any id.
            raise ServiceRefusal(reason, {"number": number, "manager": request.manager_id})
    if request.action in (Action.REJECT, Action.CLOSE) and not request.note.strip():
        raise ServiceRefusal("refused.reason_missing", {"number": number})
    if request.action is Action.ASK:
        if not request.note.strip():
            raise ServiceRefusal("refused.question_missing", {"number": number})
        resident = await queries.get_person(session=session, person_id=case.resident_id)
        if actor.person_id is None or resident is None or not resident.active:
            raise ServiceRefusal("refused.nobody_to_ask", {"number": number})


def _write_state(
    case: Case, state: CaseState, request: Request, policy: Policy, now: datetime
) -> None:
    """Copy the new state onto the row, stamping times and setting the sweep's timer."""
    entered = state.status != case.status or state.reopen_count != case.reopen_count
    case.status = state.status.value
    case.escalation_level, case.reopen_count = state.escalation_level, state.reopen_count
    case.rating, case.manager_id = state.rating.value if state.rating else None, state.manager_id
    case.updated_at = now
    match request.action:
        case Action.ACKNOWLEDGE:
            # The first acknowledgement is the one the response rate measures.
            case.acknowledged_at = case.acknowledged_at or now
        case Action.RESOLVE:
            case.acknowledged_at = case.acknowledged_at or now
            case.resolved_at = now
        case Action.ESCALATE:
            case.reminders_sent = 0
            case.next_due_at = now + policy.levels.remind_every
        case Action.REMIND:
            case.reminders_sent += 1
            case.next_due_at = now + policy.levels.remind_every
        case Action.NUDGE:
            # One nudge; the rest of confirm_within later, the case closes unrated.
            case.reminders_sent += 1
            case.next_due_at = (case.resolved_at or now) + policy.levels.confirm_within
    if state.status.is_open:
        case.closed_at = None  # reopened (by the city): it is closed only when it closes again
    elif entered:  # a note on a closed case leaves when it closed as it was
        case.closed_at = now
        case.asked_by = case.asked_at = None  # nothing more to ask of a finished case
    if entered:
        case.reminders_sent = 0
        case.next_due_at = next_due_at(
            state.status,
            now=now,
            ack_due_at=case.ack_due_at,
            resolve_due_at=case.resolve_due_at,
            resolved_at=case.resolved_at,
            levels=policy.levels,
        )


def _event_data(kind: EventKind, request: Request, case: Case) -> dict[str, object]:
    """The structured part of an event: what a later reader needs beyond kind and note."""
    data: dict[str, object] = {"status": case.status, "level": case.escalation_level}
    if request.rating is not None and kind in (EventKind.RATED, EventKind.FEEDBACK):
        data["rating"] = request.rating.value
    if request.manager_id is not None:
        data["manager"] = request.manager_id
    if request.duplicate_of is not None:
        data["duplicate_of"] = request.duplicate_of
    return data


async def acknowledge(ctx: ServiceContext, *, number: int, actor: Actor) -> Case:
    """The manager (or a supervisor above) takes the case on."""
    return await act(ctx, number=number, actor=actor, request=Request(Action.ACKNOWLEDGE))


async def resolve(
    ctx: ServiceContext,
    *,
    number: int,
    actor: Actor,
    note: str = "",
    photos: tuple[NewPhoto, ...] = (),
) -> Case:
    """The manager reports it fixed, with photos of the fix if any; the resident is asked to
    rate (the photos go with the question)."""
    request = Request(Action.RESOLVE, note=note, photos=photos)
    return await act(ctx, number=number, actor=actor, request=request)


async def ask(ctx: ServiceContext, *, number: int, actor: Actor, question: str) -> Case:
    """The holder or staff ask the reporter a question; their next message answers it."""
    return await act(ctx, number=number, actor=actor, request=Request(Action.ASK, note=question))


async def decline(ctx: ServiceContext, *, number: int, actor: Actor, note: str = "") -> Case:
    """The manager says it is not theirs; it goes back to staff, unassigned."""
    return await act(ctx, number=number, actor=actor, request=Request(Action.DECLINE, note=note))


async def rate(
    ctx: ServiceContext, *, number: int, actor: Actor, rating: Rating, note: str = ""
) -> Case:
    """The resident rates: satisfied closes; dissatisfied reopens one level higher."""
    request = Request(Action.RATE, rating=rating, note=note)
    return await act(ctx, number=number, actor=actor, request=request)


async def reassign(
    ctx: ServiceContext, *, number: int, actor: Actor, manager_id: str, note: str = ""
) -> Case:
    """Staff hand the case to another manager."""
    request = Request(Action.REASSIGN, manager_id=manager_id, note=note)
    return await act(ctx, number=number, actor=actor, request=request)


async def reject(
    ctx: ServiceContext,
    *,
    number: int,
    actor: Actor,
    note: str = "",
    duplicate_of: int | None = None,
) -> Case:
    """Staff reject the case as invalid (with a reason) or as a duplicate of another."""
    request = Request(Action.REJECT, note=note, duplicate_of=duplicate_of)
    return await act(ctx, number=number, actor=actor, request=request)


async def close(ctx: ServiceContext, *, number: int, actor: Actor, note: str) -> Case:
    """Staff close the case themselves, with a reason."""
    return await act(ctx, number=number, actor=actor, request=Request(Action.CLOSE, note=note))


async def cancel(ctx: ServiceContext, *, number: int, actor: Actor, note: str = "") -> Case:
    """The resident withdraws the case before it is acknowledged."""
    return await act(ctx, number=number, actor=actor, request=Request(Action.CANCEL, note=note))


async def escalate(ctx: ServiceContext, *, number: int, note: str = "") -> Case:
    """The clock moves an overdue case one level up the chain."""
    request = Request(Action.ESCALATE, note=note)
    return await act(ctx, number=number, actor=Actor.system(), request=request)


async def remind(ctx: ServiceContext, *, number: int) -> Case:
    """The clock reminds whoever holds an overdue case."""
    return await act(ctx, number=number, actor=Actor.system(), request=Request(Action.REMIND))


async def nudge(ctx: ServiceContext, *, number: int) -> Case:
    """The clock asks the resident once more for a rating."""
    return await act(ctx, number=number, actor=Actor.system(), request=Request(Action.NUDGE))


async def close_unrated(ctx: ServiceContext, *, number: int) -> Case:
    """The clock closes a resolved case the resident never rated."""
    request = Request(Action.CLOSE_UNRATED)
    return await act(ctx, number=number, actor=Actor.system(), request=request)


__all__ = [
    "Request",
    "acknowledge",
    "act",
    "act_in",
    "act_on",
    "ask",
    "cancel",
    "close",
    "close_unrated",
    "decline",
    "escalate",
    "nudge",
    "rate",
    "reassign",
    "reject",
    "remind",
    "resolve",
]
