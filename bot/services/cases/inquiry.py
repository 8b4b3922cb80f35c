"""A question to a case's reporter and its answer: the holder or staff ask (``lifecycle.ask``,
the ``asked`` event), and the reporter's next message — text, a photo, or both — answers it,
joins the case's timeline as ``answered`` and reaches whoever asked (docs/reference.md §4)."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.cases import photos
from bot.services.cases.photos import MAX_POSITION, NewPhoto
from bot.services.unit.context import Unit
from core.cases import EventKind, Status
from core.clean import MAX_DESCRIPTION, cap, clean
from db import queries
from db.models import Case, CaseEvent, Person

# A question still waits this long; a message weeks later is a new report, not its answer.
ANSWER_WITHIN = timedelta(days=7)


async def waiting_for(session: AsyncSession, person_id: str) -> Case | None:
    """The reporter's case whose question waits for their next message (the latest asked)."""
    query = (
        select(Case)
        .where(Case.resident_id == person_id, col(Case.asked_by).is_not(None))
        .order_by(col(Case.asked_at).desc())
        .limit(1)
    )
    return (await session.exec(query)).first()


async def answer_in(
    unit: Unit, person: Person, *, text: str | None, photo: NewPhoto | None = None
) -> bool:
    """Take ``person``'s message as the answer to the question waiting on their case, if one
    is; False when none waits (the message means what it says)."""
    session, now = unit.session, unit.now
    found = await waiting_for(session, person.id)
    if found is None or found.number is None:
        return False
    case = await queries.get_case(session=session, number=found.number, lock=True)
    if case is None or case.asked_by is None or case.asked_at is None:
        return False
    asked_by, late = case.asked_by, now - case.asked_at > ANSWER_WITHIN
    case.asked_by = case.asked_at = None  # answered, or too late to be: either way it ends
    session.add(case)
    answer = cap(clean(text or ""), MAX_DESCRIPTION)[0]
    if late or not Status(case.status).is_open or not (answer or photo):
        return False
    data: dict[str, object] = {"asked_by": asked_by}
    kept = (
        await photos.append(session, found.number, [photo], now, limit=MAX_POSITION)
        if photo
        else []
    )
    if kept:
        data["photo"] = kept[0]
    assert unit.inbound is not None
    event = CaseEvent(
        case_number=found.number,
        at=now,
        kind=EventKind.ANSWERED.value,
        actor_id=person.id,
        channel=unit.inbound.channel,
        note=answer,
        data=data,
    )
    case.updated_at = now
    session.add(event)
    await session.flush()
    question = await _question(session, found.number)
    params = {"number": found.number, "question": question or "-", "answer": answer or "-"}
    asker = await queries.get_person(session=session, person_id=asked_by)
    key = f"case:{found.number}:event:{event.id}"
    await unit.outbox.tell(asker, "case.answered", key=key, case=case, params=params, photos=kept)
    await unit.outbox.tell(person, "case.answer_passed", key=unit.key(), params=params)
    return True


async def _question(session: AsyncSession, number: int) -> str:
    """The latest question asked on the case (the ``asked`` event's note)."""
    query = (
        select(CaseEvent.note)
        .where(CaseEvent.case_number == number, CaseEvent.kind == EventKind.ASKED.value)
        .order_by(col(CaseEvent.id).desc())
        .limit(1)
    )
    return (await session.exec(query)).first() or ""
