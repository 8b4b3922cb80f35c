"""A case's cards kept current: the messages sent before on channels that edit them, each edited
to say the status now and to carry the buttons its reader has now — unless its last edit says
that already (a reminder changes nothing a card shows: no edit)."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.cases.parties import Parties
from bot.services.cases.scene import Scene, both, state_of
from bot.services.unit.outbox import Outbox
from core.buttons import Button, buttons_for
from core.texts import render
from db.models import OutboxMessage, OutboxStatus


async def sent(outbox: Outbox, number: int) -> list[OutboxMessage]:
    """The case's earlier messages on channels that edit them (those with buttons get edited as
    it moves)."""
    editing = outbox.book.editing
    if not editing:
        return []
    query = (
        select(OutboxMessage)
        .where(
            OutboxMessage.case_number == number,
            col(OutboxMessage.channel).in_(editing),
            col(OutboxMessage.edit_of).is_(None),
            OutboxMessage.status != OutboxStatus.DEAD,
        )
        .order_by(col(OutboxMessage.id))
    )
    return list((await outbox.session.exec(query)).all())


async def refresh(
    outbox: Outbox, scene: Scene, cards: list[OutboxMessage], after: Parties, *, key: str
) -> None:
    """Edit each earlier card: its first text, the status now, the buttons its reader has now."""
    state = state_of(scene.case)
    number = scene.case.number
    assert number is not None
    for card in cards:
        if not card.buttons:
            continue  # nothing to press on it, nothing that can go stale
        status = render(card.language, f"status.{scene.case.status}")
        text = card.text
        if scene.case.followers:  # how many residents it concerns, above the status line
            concerns = scene.case.followers + 1
            text += f"\n{render(card.language, 'card.concerns', concerns=concerns)}"
        text += f"\n\n{render(card.language, 'card.status', status=status)}"
        buttons = buttons_for(state, after.relations(card.person_id or ""), number)
        if await _reads_already(outbox.session, card, text, buttons, status=scene.case.status):
            continue
        await outbox.edit(card, key=key, text=text, buttons=buttons)


async def _reads_already(
    session: AsyncSession,
    card: OutboxMessage,
    text: str,
    buttons: list[list[Button]],
    *,
    status: str,
) -> bool:
    """True when the card's last edit already says this, or, never edited, it was written in
    this status with these buttons (a reminder changes nothing it shows: no edit)."""
    query = (
        select(OutboxMessage)
        .where(OutboxMessage.edit_of == card.id)
        .order_by(col(OutboxMessage.id).desc())
        .limit(1)
    )
    last = (await session.exec(query)).first()
    data = [[b.data for b in row] for row in buttons]
    if last is None:
        written = card.params.get("status")  # the status a card was written in, when it says
        return written == both(f"status.{status}") and _data(card) == data
    return last.text == text and _data(last) == data


def _data(row: OutboxMessage) -> list[list[str]]:
    """The callback data of a stored row's buttons."""
    return [[b["data"] for b in buttons] for buttons in row.buttons]
