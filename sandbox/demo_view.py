"""What each chat of the demo shows at its end: every card of a finished case must read as the case
stands and offer no button the case would refuse; and no card was edited but for a change (of the
case's status, or of what its reader may press)."""

from __future__ import annotations

import itertools

from sqlmodel import col, select

from bot.services.cases.scene import state_of
from bot.services.unit.context import ServiceContext
from core.buttons import buttons_for
from core.cases import Relation, Status
from core.texts import render
from db.models import Case, OutboxMessage, OutboxStatus
from sandbox.telegram import Sent, TelegramEmulator


async def stale_cards(ctx: ServiceContext, telegram: TelegramEmulator) -> list[str]:
    """One line per card of a closed (or otherwise finished) case that a chat shows wrongly."""
    async with ctx.db.reading() as session:
        cases = {c.number: c for c in (await session.exec(select(Case))).all()}
        query = (
            select(OutboxMessage)
            .where(
                OutboxMessage.channel == "telegram",
                col(OutboxMessage.case_number).is_not(None),
                col(OutboxMessage.edit_of).is_(None),
                OutboxMessage.status == OutboxStatus.SENT,
            )
            .order_by(col(OutboxMessage.id))
        )
        cards = [row for row in (await session.exec(query)).all() if row.buttons]
        edits = select(OutboxMessage).where(
            col(OutboxMessage.edit_of).is_not(None), OutboxMessage.status == OutboxStatus.SENT
        )
        sent = list((await session.exec(edits.order_by(col(OutboxMessage.id)))).all())
    problems = _overtaken(sent)
    for card in cards:
        case = cases.get(card.case_number)
        if case is None or case.number is None or not card.provider_message_id:
            continue
        shown = _message(telegram, int(card.address), int(card.provider_message_id))
        if shown is None:
            problems.append(f"card {card.id} of case #{case.number} is not in its chat")
            continue
        problems += _idle_edits(card, shown)
        if Status(case.status).is_open:
            continue
        status = render(card.language, f"status.{case.status}")
        reads = render(card.language, "card.status", status=status)
        # Whoever reads it: no relation to the case may press anything it would refuse.
        every = frozenset(Relation)
        allowed = {b.data for row in buttons_for(state_of(case), every, case.number) for b in row}
        offered = set(shown.button_data())
        if shown.text.splitlines()[-1] != reads or not offered <= allowed:
            last = shown.text.splitlines()[-1]
            problems.append(f"card {card.id} of case #{case.number} ends on {last!r} {offered}")
    return problems


def _idle_edits(card: OutboxMessage, shown: Sent) -> list[str]:
    """Edits of ``card`` that changed neither the status it shows nor its buttons (at most one
    edit per card per change); a card names the status it was written in by its parameters."""
    language = card.language
    names = {render(language, f"status.{s}") for s in Status}
    lines = {render(language, "card.status", status=name): name for name in names}
    written = card.params.get("status")
    states: list[tuple[str | None, list[str], str]] = []
    for i, (_, text, buttons) in enumerate(shown.history or [(0.0, shown.text, shown.buttons)]):
        if i == 0:
            status = written.get(language) if isinstance(written, dict) else None
        else:
            status = lines.get(text.splitlines()[-1])
        pressable = [b.get("callback_data", "") for row in buttons for b in row]
        states.append((status, pressable, text))  # the text too: a count of followers may move
    if not any(a == b and a[0] is not None for a, b in itertools.pairwise(states)):
        return []
    shows = [status or "-" for status, _, _ in states]
    return [f"card {card.id} of case #{card.case_number} edited without a change: {shows}"]


def _overtaken(edits: list[OutboxMessage]) -> list[str]:
    """Edits sent after a newer edit of the same card (whatever the chat shows at the end)."""
    latest: dict[int, OutboxMessage] = {}
    problems = []
    for edit in edits:  # in the order they were written
        assert edit.edit_of is not None
        assert edit.sent_at is not None
        newest = latest.get(edit.edit_of)
        if newest is not None and newest.sent_at is not None and edit.sent_at < newest.sent_at:
            problems.append(f"edit {edit.id} of card {edit.edit_of} went out before {newest.id}")
        latest[edit.edit_of] = edit
    return problems


def _message(telegram: TelegramEmulator, chat: int, message_id: int) -> Sent | None:
    return next((m for m in telegram.inbox(chat) if m.message_id == message_id), None)
