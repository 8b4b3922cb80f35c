"""The open cases of people a directory load retires, handed on within the load's transaction.

A case is held by its ``manager_id`` (a supervisor or staff holding it at a higher escalation
level hold it through that manager, and a retired supervisor simply drops out of the chain). When
the holder is no longer a manager or supervisor of the directory (they left, or changed role),
the case goes to the manager the new routing names, else to the nearest supervisor above the
holder, else back to the community's staff (``unassigned``). ``plan`` works this out read-only
(``directory check`` uses it before a load), ``hand_on`` does it: one ``reassigned`` event per
case by the system, the new holder given the case card and the resident told.

A case the leaver resolved, waiting for its resident's rating, is handed on too when someone
takes their place (a route, a supervisor): it stays resolved, its new holder is told (with its
photos) that a "not satisfied" will reopen it to them. With nobody to take it, it stays: a
reopen then climbs the chain, and the next load hands it on as an open case.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.cases import updates
from bot.services.cases.lifecycle import Request, act_in
from bot.services.cases.routing import policy_for
from bot.services.cases.scene import scene_of
from bot.services.unit.context import Actor, Unit
from core.cases import Action, EventKind, Status
from core.directory import Directory
from core.routing import Route, successor
from core.texts import render
from db import queries
from db.models import Case, CaseEvent, Person

# The statuses in which someone must act, and a resolved one (a reopen would go to its holder).
_HANDED_ON = (Status.ASSIGNED.value, Status.ACKNOWLEDGED.value, Status.RESOLVED.value)
_MANAGING = frozenset({"manager", "supervisor"})


@dataclass(frozen=True, slots=True)
class Move:
    """One open case leaving its holder: to ``to_id`` (None: the community's staff)."""

    number: int
    held_by: str
    held_name: str
    to_id: str | None
    to_name: str | None
    waiting: bool = False  # resolved, waiting for its resident's rating: it stays resolved


async def plan(session: AsyncSession, directory: Directory) -> list[Move]:
    """The moves loading ``directory`` calls for, read only (before or after the load)."""
    managers = {p.id: p.name for p in directory.people if p.role in _MANAGING}
    query = (
        select(Case)
        .where(col(Case.status).in_(_HANDED_ON), col(Case.manager_id).is_not(None))
        .order_by(col(Case.number))
    )
    held = [c for c in (await session.exec(query)).all() if c.manager_id not in managers]
    if not held:
        return []
    rows = (await session.exec(select(Person).where(Person.source == "directory"))).all()
    # A leaver is not in the file: where they stood comes from their row, the rest from the file.
    supervisor_of = {p.id: p.supervisor_id for p in rows} | {
        p.id: p.supervisor for p in directory.people
    }
    names = {p.id: p.name for p in rows} | managers
    routes = [Route(r.community, r.category, r.manager) for r in directory.routing]
    moves: list[Move] = []
    for case in held:
        assert case.number is not None
        assert case.manager_id is not None
        to = successor(
            routes,
            community=case.community_id,
            category=case.category_id,
            leaving=case.manager_id,
            managers=managers,
            supervisor_of=supervisor_of,
        )
        waiting = case.status == Status.RESOLVED.value
        if waiting and to is None:
            continue  # nobody to hold it: it waits where it is (see the module's docstring)
        moves.append(
            Move(
                case.number,
                case.manager_id,
                names.get(case.manager_id, case.manager_id),
                to,
                managers.get(to) if to else None,
                waiting,
            )
        )
    return moves


async def hand_on(unit: Unit, directory: Directory) -> Sequence[Move]:
    """Hand on, in ``unit``'s transaction, the cases ``directory`` (just applied) retires."""
    moves = await plan(unit.session, directory)
    for move in moves:
        # The note is the audit trail's "why", in the operator's language like other notes.
        note = render(unit.default_language, "case.handed_on_note", person=move.held_name)
        if move.waiting:
            await _hand_on_waiting(unit, move, note)
            continue
        request = Request(Action.REASSIGN, manager_id=move.to_id, note=note)
        await act_in(unit, number=move.number, actor=Actor.system(), request=request)
    return moves


# A resolved case waiting for its rating stays resolved; its new holder is told that a
# "not satisfied" reopens it to them.
WAITING_TEMPLATE = "case.handed_on_resolved"


async def _hand_on_waiting(unit: Unit, move: Move, note: str) -> None:
    """Give ``move``'s resolved case to its new holder, in ``unit``'s transaction."""
    session, now = unit.session, unit.now
    case = await queries.get_case(session=session, number=move.number, lock=True)
    if case is None or case.status != Status.RESOLVED.value or move.to_id is None:
        return  # it moved on meanwhile (rated, closed): nothing to hand on
    holder = await queries.get_person(session=session, person_id=move.to_id)
    case.manager_id, case.escalation_level, case.updated_at = move.to_id, 0, now
    session.add(case)
    event = CaseEvent(
        case_number=move.number,
        at=now,
        kind=EventKind.REASSIGNED.value,
        actor_id=None,
        channel="system",
        note=note,
        data={"status": case.status, "level": 0, "manager": move.to_id},
    )
    session.add(event)
    await session.flush()
    policy = await policy_for(session=session, category_id=case.category_id)
    photos = len(await queries.case_photos(session=session, number=move.number))
    scene = replace(await scene_of(session, case, policy), photos=photos)
    await unit.outbox.tell(
        holder,
        WAITING_TEMPLATE,
        key=f"case:{move.number}:event:{event.id}",
        case=case,
        params=scene.params(event),
        photos=range(photos),
    )
    await updates.queue(unit.outbox, case, [event])  # a city that filed it hears of the move
