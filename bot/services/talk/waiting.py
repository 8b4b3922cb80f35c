"""The question waiting for a person's next message — a step of the guided report, or one of the
one-message questions — and where their answer goes; ``/cancel`` drops it."""

from __future__ import annotations

from bot.services.talk import drafts, questions
from bot.services.talk.guided import REPORT_FLOW, report_step
from bot.services.unit.context import ServiceContext, Unit
from bot.services.unit.inbound import Inbound
from bot.services.unit.work import unit_of_work
from core import report_flow as flow
from core.clean import clean
from db.models import Draft


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
    choices picks the second."""
    person = unit.active_sender()
    assert unit.inbound is not None
    channel = unit.inbound.channel
    row = await drafts.current(unit, channel, person.id)
    if row is None:
        return False
    text = clean(text) if text is not None else None  # a reason, a place, a description
    if choice is None and text is not None and unit.channels.plain_text(channel):
        choice = drafts.picked(row, text)
    if row.flow == REPORT_FLOW:
        await report_step(unit, person, row, channel, _given(row, text, photo, choice))
    else:
        await questions.answered(unit, person, row, text=text, choice=choice)
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
    signals = {"x": flow.Signal.ABANDON, "skip": flow.Signal.SKIP, "ok": flow.Signal.CONFIRM}
    if value in signals:
        return signals[value]
    return flow.Choice(int(value)) if value.isdigit() else flow.Text("")


async def abandon(ctx: ServiceContext, inbound: Inbound) -> None:
    """Drop whatever is in progress (``/cancel``) and say so."""
    async with unit_of_work(ctx, inbound) as unit:
        person = unit.active_sender()
        row = await drafts.current(unit, inbound.channel, person.id)
        if row is not None:
            await unit.session.delete(row)
        template = "flow.abandoned" if row is not None else "flow.nothing_to_cancel"
        await unit.outbox.tell(person, template, key=unit.key("flow"))
