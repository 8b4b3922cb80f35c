"""The answer to a person's own action reaches them before the notices it causes for others: the
resident's receipt before the manager's card, the manager's card saying "处理中" before the
resident hears it was taken on, the resident's thanks for a rating before the manager's verdict."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from db.engine import Database
from sandbox.telegram import Sent
from tests.e2e.conftest import MANAGER, RESIDENT, Running, run_stack


@pytest.fixture
async def running(db: Database) -> AsyncIterator[Running]:
    """The stack polling the emulator, with the example directory."""
    async with run_stack(db) as run:
        yield run


def _edited_at(message: Sent, ending: str) -> float:
    """When the chat first showed ``message`` reading ``ending`` (an edit's arrival)."""
    return next(at for at, text, _ in message.history if text.endswith(ending))


async def test_each_answer_arrives_before_what_it_causes_for_others(running: Running) -> None:
    tg = running.telegram
    for round_ in range(3):  # the order must hold every time, not by luck
        cards = len(tg.inbox(MANAGER))
        number = await running.report(RESIDENT, f"快递堆在路中间（第{round_ + 1}次）")
        receipt = tg.inbox(RESIDENT)[-1]
        card = await running.next_message(MANAGER, cards)
        assert receipt.at < card.at  # 提交: the receipt first, then the manager's card

        told = len(tg.inbox(RESIDENT))
        await tg.user_presses(MANAGER, card, f"ack:{number}")
        heard = await running.next_message(RESIDENT, told)
        await running.until(lambda: card.text.endswith("处理中"))  # noqa: B023
        assert _edited_at(card, "处理中") < heard.at  # 接单: the manager's card first

        await tg.user_presses(MANAGER, card, f"done:{number}")
        await running.until(lambda: "请您评价" in tg.last(RESIDENT).text)
        rate = tg.last(RESIDENT)
        verdicts = len(tg.inbox(MANAGER))
        thanks = await running.press(RESIDENT, rate, f"rate:{number}:1")
        verdict = await running.next_message(MANAGER, verdicts)
        assert thanks.at < verdict.at  # 评价: the resident's thanks first
