"""After a press on a card: the card brought up to date for the member who pressed it, queued in
the outbox as an edit of the card that carries the press's one-time code (the sender turns it
into WeCom's card update). WeCom changes a card only with such a code, so the cards of a case
move only when their reader presses one; a press on an old card still gets the answer every
channel gives, and then the card as it stands.

A case's card shows the status and the buttons its reader has now; a question's card shows the
answer chosen in place of its buttons. Its own transaction, after the press's: a crash between
the two leaves the callback unanswered, WeCom posts it again, and the replay (handled once)
queues the update then."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.cases import cards
from bot.services.cases.parties import load_parties
from bot.services.cases.routing import policy_for
from bot.services.cases.scene import scene_of
from bot.services.unit.context import ServiceContext
from bot.services.unit.outbox import Outbox
from bot.services.unit.work import unit_of_work
from core.buttons import MAX_DATA_BYTES, decode
from core.texts import render
from db import queries
from db.models import OutboxMessage

from .cards import CHANNEL, row_of

# A press's response_code as WeCom gives it (anything else is kept off the outbox row).
_CODE = re.compile(r"[A-Za-z0-9_=+/-]{1,256}")


@dataclass(frozen=True, slots=True)
class Press:
    """A member's press on a card, as WeCom's ``template_card_event`` tells it."""

    userid: str
    key: str  # the button's key: our callback data
    task: str  # the card's task id
    code: str  # the one-time code to update the card with

    @property
    def usable(self) -> bool:
        """Whether the card is ours, the key one our buttons could carry and the code one WeCom
        could have given."""
        ours = row_of(self.task) is not None and 0 < len(self.key.encode()) <= MAX_DATA_BYTES
        return ours and _CODE.fullmatch(self.code) is not None


async def queue_update(ctx: ServiceContext, press: Press, *, key: str) -> None:
    """Queue the pressed card's update (once per ``key``: a replayed press queues nothing
    more); nothing when the card is not this member's or already reads so."""
    row_id = row_of(press.task)
    if row_id is None or not press.usable:
        return
    async with unit_of_work(ctx) as unit:
        session = unit.session
        card = await session.get(OutboxMessage, row_id)
        if card is not None and card.edit_of is not None:  # a fresh card an update sent
            card = await session.get(OutboxMessage, card.edit_of)
        if card is None or card.channel != CHANNEL or card.address != press.userid:
            return
        shown = await _buttons_shown(session, card)
        if press.key not in shown:
            return  # a key the card never had
        number = card.case_number
        pressed = decode(press.key)
        if pressed is not None and number is not None and pressed.number == number:
            label = await _refresh(unit.outbox, card, number, key=key)
        else:
            label = shown[press.key]
            await unit.outbox.edit(card, key=key, text=card.text, buttons=[])
        found = await _edit_of(session, card, key)
        if found is not None and not found.params.get("code"):
            found.params = {"code": press.code, "task": press.task, "label": label}
            session.add(found)


async def pressed_update(ctx: ServiceContext, message_id: int) -> Mapping[str, Any]:
    """What the press left on an update's outbox row (the sender's reading of it)."""
    async with ctx.db.reading() as session:
        row = await session.get(OutboxMessage, message_id)
        return dict(row.params) if row is not None and row.channel == CHANNEL else {}


async def _refresh(outbox: Outbox, card: OutboxMessage, number: int, *, key: str) -> str:
    """The case's card as its reader has it now (status, buttons), queued as its edit unless it
    reads so already; the status, for the label of a card left with no buttons."""
    session = outbox.session
    case = await queries.get_case(session=session, number=number)
    if case is None:
        return ""
    policy = await policy_for(session=session, category_id=case.category_id)
    scene = await scene_of(session, case, policy)
    after = await load_parties(session=session, case=case)
    await cards.refresh(outbox, scene, [card], after, key=key)
    return render(card.language, f"status.{case.status}")


async def _buttons_shown(session: AsyncSession, card: OutboxMessage) -> dict[str, str]:
    """Every button the card has shown, as sent or as updated since: data -> label."""
    query = select(OutboxMessage.buttons).where(OutboxMessage.edit_of == card.id)
    rows = [card.buttons, *(await session.exec(query)).all()]
    return {b["data"]: b.get("text", "") for buttons in rows for row in buttons for b in row}


async def _edit_of(session: AsyncSession, card: OutboxMessage, key: str) -> OutboxMessage | None:
    """The edit of ``card`` this press queued (``Outbox.edit``'s key), if it queued one."""
    query = select(OutboxMessage).where(OutboxMessage.idempotency_key == f"{key}:edit:{card.id}")
    return (await session.exec(query)).first()
