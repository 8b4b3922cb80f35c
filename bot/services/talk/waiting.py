"""The question waiting for a person's next message — a step of the guided report, a new
follower's note, or one of the one-message questions — and where their answer goes; ``/cancel``
drops it."""

from __future__ import annotations

from bot.services.cases.following import comment_in
from bot.services.cases.photos import NewPhoto
from bot.services.talk import drafts, questions, resolving
from bot.services.talk.guided import NOTE_FLOW, REPORT_FLOW, ask_note, report_step
from bot.services.unit.context import ServiceContext, ServiceRefusal, Unit
from bot.services.unit.inbound import Inbound
from bot.services.unit.work import unit_of_work
from core import report_flow as flow
from core.clean import clean
from db.models import Draft, Person

# A follower's note step ends (the follow stands) when a refusal says the case takes no more.
_NOTES_END = frozenset({"refused.closed", "refused.no_case_of_yours", "refused.no_such_case"})


async def answer(
    ctx: ServiceContext,
    inbound: Inbound,
    *,
    text: str | None = None,
    photo: str | None = None,
    choice: str | None = None,
) -> bool:
    """Take a message or a flow button as the answer to the question in progress.

    Returns False when no conversation is in progress (the caller says it did not understand).
    """
    async with unit_of_work(ctx, inbound) as unit:
        return await answer_in(unit, text=text, photo=photo, choice=choice)


async def answer_in(
    unit: Unit, *, text: str | None = None, photo: str | None = None, choice: str | None = None
) -> bool:
    """``answer`` within the inbound's unit of work; a plain-text reply "2" to a question with
    choices picks the second. False when nothing took the message (no question waits, or the
    photos of a fix stop at a message that is not one)."""
    person = unit.active_sender()
    assert unit.inbound is not None
    channel = unit.inbound.channel
    row = await drafts.current(unit, channel, person.id)
    if row is None:
        return False
    text = clean(text) if text is not None else None  # a reason, a place, a description
    if choice is None and text is not None and unit.channels.plain_text(channel):
        choice = drafts.picked(row, text)
    if row.flow == resolving.FIX_FLOW:
        return await resolving.more(unit, person, row, photo, text or "")
    if row.flow == REPORT_FLOW:
        await report_step(unit, person, row, channel, _given(row, text, photo, choice))
    elif row.flow == NOTE_FLOW:
        await note_step(unit, person, row, channel, text=text, photo=photo, choice=choice)
    else:
        fix = NewPhoto(source=channel, file_id=photo) if photo is not None else None
        await questions.answered(unit, person, row, text=text, choice=choice, photo=fix)
    return True


def _given(row: Draft, text: str | None, photo: str | None, choice: str | None) -> flow.Input:
    if photo is not None:
        return flow.Photo(photo, caption=text or "")  # the caption written under it
    if choice is None:
        return flow.Text(text or "")
    parsed = drafts.parse_choice(choice)
    if parsed is None or parsed[0] != row.step:
        return flow.Text("")  # a button of an earlier question: ask the current one again
    value = parsed[1]
    signals = {
        "x": flow.Signal.ABANDON,
        "skip": flow.Signal.SKIP,
        "ok": flow.Signal.CONFIRM,
        "new": flow.Signal.NEW,
    }
    if value in signals:
        return signals[value]
    return flow.Choice(int(value)) if value.isdigit() else flow.Text("")


async def note_step(
    unit: Unit,
    person: Person,
    row: Draft,
    channel: str,
    *,
    text: str | None,
    photo: str | None,
    choice: str | None,
) -> None:
    """A follower's note or photo joins the case (the step stays open for more); "done" ends it."""
    number = int(row.data["number"])
    parsed = drafts.parse_choice(choice) if choice else None
    if parsed is not None and parsed[0] == NOTE_FLOW:
        await end_notes(unit, person, row)
        return
    if parsed is not None or not (text or photo):
        await ask_note(unit, person, channel, number, reask=True)  # an earlier question's button
        return
    new = NewPhoto(source=channel, file_id=photo) if photo is not None else None
    try:
        async with unit.session.begin_nested():
            await comment_in(
                unit, person=person, number=number, channel=channel, note=text or "", photo=new
            )
    except ServiceRefusal as refusal:
        unit.outbox.rolled_back()
        await unit.session.refresh(person)
        if refusal.reason in _NOTES_END:
            await unit.session.delete(row)
        params = refusal.params
        await unit.outbox.tell(person, refusal.reason, key=unit.key("flow"), params=params)
        return
    row.updated_at = unit.now
    unit.session.add(row)


async def end_notes(unit: Unit, person: Person, row: Draft) -> None:
    """No more notes: the follow stands, and they hear of its steps."""
    await unit.session.delete(row)
    params = {"number": int(row.data["number"])}
    await unit.outbox.tell(person, "follow.note_done", key=unit.key("flow"), params=params)


async def abandon(ctx: ServiceContext, inbound: Inbound) -> None:
    """Drop whatever is in progress (``/cancel``) and say so."""
    async with unit_of_work(ctx, inbound) as unit:
        person = unit.active_sender()
        row = await drafts.current(unit, inbound.channel, person.id)
        if row is not None and row.flow == NOTE_FLOW:
            await end_notes(unit, person, row)  # nothing to drop: the follow stands
            return
        if row is not None:
            await unit.session.delete(row)
        template = "flow.abandoned" if row is not None else "flow.nothing_to_cancel"
        await unit.outbox.tell(person, template, key=unit.key("flow"))
