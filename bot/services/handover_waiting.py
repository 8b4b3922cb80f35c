"""A resolved case, waiting for its resident's rating, handed on from a holder who left: it stays
resolved; the new holder is told (with its photos) that a "not satisfied" reopens it to them."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from core.cases import EventKind, Status
from db import queries
from db.models import CaseEvent

from .context import Unit
from .levels import policy_for
from .lifecycle import scene_of

if TYPE_CHECKING:
    from .handover import Move

TEMPLATE = "case.handed_on_resolved"


async def hand_on_waiting(unit: Unit, move: Move, note: str) -> None:
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
        TEMPLATE,
        key=f"case:{move.number}:event:{event.id}",
        case=case,
        params=scene.params(event),
        photos=photos,
    )
