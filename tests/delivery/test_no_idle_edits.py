"""A card is edited once per change and only for one: a reminder or an escalation changes neither
the status a card shows nor what its reader may press, so no card of the case is edited for it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.delivery.store import outbox_messages
from bot.services.cases import lifecycle
from db.engine import Database
from tests.e2e.conftest import MANAGER, RESIDENT, SUPERVISOR, Running, run_stack


@pytest.fixture
async def running(db: Database) -> AsyncIterator[Running]:
    """The stack polling the emulator, with the example directory."""
    async with run_stack(db) as run:
        yield run


async def _settled(running: Running) -> None:
    running.stack.kick()
    async with asyncio.timeout(15):
        while await outbox_messages(running.ctx):  # noqa: ASYNC110 (the outbox is a table)
            await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)


async def test_reminders_and_escalations_edit_no_card(running: Running) -> None:
    tg = running.telegram
    number = await running.report(RESIDENT, "快递堆在路中间")
    card = await running.next_message(MANAGER, 0)
    receipt = tg.inbox(RESIDENT)[-1]
    await lifecycle.remind(running.ctx, number=number)
    await lifecycle.escalate(running.ctx, number=number)
    await _settled(running)
    up = tg.inbox(SUPERVISOR)[-1]
    await lifecycle.remind(running.ctx, number=number)
    await _settled(running)
    assert (card.edits, receipt.edits, up.edits) == (0, 0, 0)
    # the next change edits each once
    await tg.user_presses(MANAGER, card, f"ack:{number}")
    await running.until(lambda: card.text.endswith("处理中"))
    await _settled(running)
    assert (card.edits, receipt.edits, up.edits) == (1, 1, 1)
