"""Once a case is over (closed, by rating, by staff or unrated; cancelled; rejected, a duplicate
too) no message of it in any chat — the resident's, the manager's, the staff's — offers a button
the case would refuse: every card was brought up to date, and questions asked about it are moot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.delivery.store import outbox_messages
from bot.services.cases import lifecycle
from core.buttons import decode
from db.engine import Database
from tests.e2e.conftest import MANAGER, RESIDENT, STAFF, Running, run_stack


@pytest.fixture
async def running(db: Database) -> AsyncIterator[Running]:
    """The stack polling the emulator, with the example directory."""
    async with run_stack(db) as run:
        yield run


async def _stale_buttons(running: Running, number: int) -> list[str]:
    """Once nothing waits to go out: every button in every chat that acts on case ``number``."""
    async with asyncio.timeout(15):
        while await outbox_messages(running.ctx):  # noqa: ASYNC110 (the outbox is a table)
            await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # the last answers are written back
    found = []
    for chat, messages in running.telegram.chats.items():
        for message in messages:
            for data in message.button_data():
                pressed = decode(data)  # a question's own buttons (✖ 取消) name no case
                if message.from_bot and pressed is not None and pressed.number == number:
                    found.append(f"chat {chat}: {data} under {message.text!r}")
    return found


async def _status_is(running: Running, number: int, status: str) -> bool:
    return (await running.case(number)).status == status


async def _resolved(running: Running, description: str) -> int:
    """A case the manager acknowledged and fixed; its number."""
    tg = running.telegram
    cards = len(tg.inbox(MANAGER))
    number = await running.report(RESIDENT, description)
    card = await running.next_message(MANAGER, cards)
    seen = len(tg.inbox(RESIDENT))
    await tg.user_presses(MANAGER, card, f"ack:{number}")
    await tg.user_presses(MANAGER, card, f"done:{number}")
    await running.until(
        lambda: len(tg.inbox(RESIDENT)) > seen and "请您评价" in tg.last(RESIDENT).text
    )
    return number


async def test_a_case_closed_by_the_residents_rating(running: Running) -> None:
    number = await _resolved(running, "快递堆在路中间")
    rate = running.telegram.last(RESIDENT)
    await running.press(RESIDENT, rate, f"rate:{number}:1")
    assert (await running.case(number)).status == "closed"
    assert await _stale_buttons(running, number) == []


async def test_a_case_closed_unrated_by_the_clock(running: Running) -> None:
    number = await _resolved(running, "快递又堆在路中间")
    await lifecycle.close_unrated(running.ctx, number=number)
    running.stack.kick()
    assert (await running.case(number)).status == "closed"
    assert await _stale_buttons(running, number) == []


async def test_a_case_the_resident_cancelled(running: Running) -> None:
    number = await running.report(RESIDENT, "楼道灯坏了")
    receipt = running.telegram.last(RESIDENT)
    assert f"cancel:{number}" in receipt.button_data()
    await running.press(RESIDENT, receipt, f"cancel:{number}")
    assert (await running.case(number)).status == "cancelled"
    assert await _stale_buttons(running, number) == []


async def test_a_case_staff_closed_from_its_view(running: Running) -> None:
    number = await running.report(RESIDENT, "井盖松了")
    shown = await running.say(STAFF, f"/case {number}")
    await running.press(STAFF, shown, f"close:{number}")  # asks for a note
    await running.telegram.user_says(STAFF, "已现场处理")
    await running.eventually(lambda: _status_is(running, number, "closed"))
    assert await _stale_buttons(running, number) == []


async def test_a_duplicate_staff_rejected_from_its_view(running: Running) -> None:
    first = await running.report(RESIDENT, "垃圾桶满了")
    second = await running.report(RESIDENT, "垃圾桶又满了")
    shown = await running.say(STAFF, f"/case {second}")
    await running.press(STAFF, shown, f"reject:{second}")
    await running.telegram.user_says(STAFF, f"#{first}")
    await running.eventually(lambda: _status_is(running, second, "rejected"))
    case = await running.case(second)
    assert (case.status, case.duplicate_of) == ("rejected", first)
    assert await _stale_buttons(running, second) == []
