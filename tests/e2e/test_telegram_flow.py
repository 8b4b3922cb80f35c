"""A resident reports on Telegram; the manager acts with buttons; the resident rates."""

from __future__ import annotations

from sqlmodel import select

from db.models import Case
from tests.e2e.conftest import Running

RESIDENT, MANAGER = 4001, 2001


async def test_report_acknowledge_resolve_rate(running: Running) -> None:
    tg = running.telegram
    seen = len(tg.inbox(RESIDENT))
    await tg.user_says(RESIDENT, "/report")
    ask = await running.next_message(RESIDENT, seen)
    assert "类别" in ask.text
    labels = [b["text"] for row in ask.buttons for b in row]
    assert "快递堆放占道" in labels
    parcels = next(b for row in ask.buttons for b in row if b["text"] == "快递堆放占道")
    await tg.user_presses(RESIDENT, ask, parcels["callback_data"])
    ask = await running.next_message(RESIDENT, seen + 1)
    assert "172" in [b["text"] for row in ask.buttons for b in row]  # the community's buildings
    await tg.user_says(RESIDENT, "172号楼一层底商门口")
    ask = await running.next_message(RESIDENT, seen + 2)
    await tg.user_says(RESIDENT, "快递和快递车堆在马路上")
    ask = await running.next_message(RESIDENT, seen + 3)
    skip = ask.button_data()[0]
    await tg.user_presses(RESIDENT, ask, skip)
    confirm = await running.next_message(RESIDENT, seen + 4)
    assert "快递和快递车堆在马路上" in confirm.text
    await tg.user_presses(RESIDENT, confirm, confirm.button_data()[0])
    received = await running.next_message(RESIDENT, seen + 5)
    assert "#1" in received.text

    card = await running.next_message(MANAGER, 0)
    assert "#1" in card.text
    assert card.button_data() == ["ack:1", "done:1", "decline:1"]
    await tg.user_presses(MANAGER, card, "ack:1")
    acknowledged = await running.next_message(RESIDENT, seen + 6)
    assert "接单" in acknowledged.text
    # the manager's one message is edited in place: its buttons follow the status
    await running.until(lambda: card.button_data() == ["done:1", "decline:1", "ask:1"])
    assert "处理中" in card.text
    assert len(tg.inbox(MANAGER)) == 1
    # and the resident's "withdraw" button is gone once the case is taken on
    await running.until(lambda: received.button_data() == [])
    await tg.user_presses(MANAGER, card, "done:1")
    resolved = await running.next_message(RESIDENT, seen + 7)
    assert resolved.button_data() == ["rate:1:1", "rate:1:2", "rate:1:3"]
    await tg.user_presses(RESIDENT, resolved, "rate:1:1")
    closed = await running.next_message(RESIDENT, seen + 8)
    assert "已办结" in closed.text
    await running.until(lambda: resolved.button_data() == [] and card.text.endswith("已办结"))
    assert card.button_data() == []
    async with running.ctx.db.reading() as session:
        case = (await session.exec(select(Case))).one()
    assert case.status == "closed"
    assert case.rating == "satisfied"
    assert case.location == "172号楼一层底商门口"
