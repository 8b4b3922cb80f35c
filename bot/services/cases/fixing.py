"""Photos of the fix from whoever holds a case: a photo sent as a reply to its card resolves
it (the caption is the note) and goes to the resident with the rating question; while it waits
for that rating, more photos from them join the fix and reach the resident too."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.cases import photos
from bot.services.cases.announce import announce
from bot.services.cases.lifecycle import Request, act_in
from bot.services.cases.parties import load_parties
from bot.services.cases.photos import MAX_FIX, MAX_POSITION, NewPhoto
from bot.services.cases.routing import policy_for
from bot.services.cases.scene import scene_of, state_of
from bot.services.unit.context import ServiceRefusal, Unit
from core.cases import Action, EventKind, Relation, Status, allowed_actions
from core.clean import MAX_DESCRIPTION, cap, clean
from db import queries
from db.models import Case, CaseEvent, Person

_HOLDING = frozenset({Relation.ASSIGNEE, Relation.CHAIN})


async def photo_in(
    unit: Unit, person: Person, number: int, photo: NewPhoto, caption: str = ""
) -> bool:
    """``person``'s photo sent about case ``number`` (a reply to its card): the fix, when they
    hold the case — resolving it, or adding to a fix that waits for its rating. False when it is
    nothing of the kind (not theirs to resolve): the photo means what it would anyway."""
    case = await queries.get_case(session=unit.session, number=number, lock=True)
    if case is None:
        return False
    relations = (await load_parties(session=unit.session, case=case)).relations(person.id)
    if not relations & _HOLDING:
        return False
    if Action.RESOLVE in allowed_actions(state_of(case), relations):
        request = Request(Action.RESOLVE, note=caption, photos=(photo,))
        await act_in(unit, number=number, actor=unit.actor(), request=request)
        return True
    if case.status == Status.RESOLVED.value:
        await more_in(unit, person, case, photo, caption)
        return True
    return False


async def may_add(session: AsyncSession, person: Person, number: int) -> bool:
    """Whether ``person`` may add a photo to case ``number``'s fix now (it waits for its rating
    and they hold it)."""
    case = await queries.get_case(session=session, number=number)
    if case is None or case.status != Status.RESOLVED.value:
        return False
    relations = (await load_parties(session=session, case=case)).relations(person.id)
    return bool(relations & _HOLDING)


async def more_in(unit: Unit, person: Person, case: Case, photo: NewPhoto, caption: str) -> None:
    """One more photo of the fix (an album's next, or one sent after the press), told to the
    resident and followers; refused once the fix holds ``MAX_FIX`` photos."""
    number = case.number
    assert number is not None
    assert unit.inbound is not None
    session = unit.session
    full = await _fix_count(session, number) >= MAX_FIX
    kept = (
        [] if full else await photos.append(session, number, [photo], unit.now, limit=MAX_POSITION)
    )
    if not kept:
        raise ServiceRefusal("refused.photos_full", {"number": number, "limit": MAX_FIX})
    before = await load_parties(session=session, case=case)
    event = CaseEvent(
        case_number=number,
        at=unit.now,
        kind=EventKind.FIX_PHOTO.value,
        actor_id=person.id,
        channel=unit.inbound.channel,
        note=cap(clean(caption), MAX_DESCRIPTION)[0],
        data={"photos": kept},
    )
    case.updated_at = unit.now
    session.add_all([case, event])
    await session.flush()
    policy = await policy_for(session=session, category_id=case.category_id)
    scene = await scene_of(session, case, policy)
    await announce(unit.outbox, scene, [event], before=before, after=before)


async def _fix_count(session: AsyncSession, number: int) -> int:
    """How many photos the case's latest fix holds already (its resolution's and those after)."""
    count = 0
    for event in reversed(await queries.case_events(session=session, number=number)):
        shown = (event.data or {}).get("photos")
        if event.kind in (EventKind.RESOLVED.value, EventKind.FIX_PHOTO.value):
            count += len(shown) if isinstance(shown, list) else 0
        if event.kind == EventKind.RESOLVED.value:
            break
    return count
