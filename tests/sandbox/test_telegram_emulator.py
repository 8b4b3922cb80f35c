"""The Telegram emulator's held answers: a press's answer waits while held, goes through when
released, and gets Telegram's 400 once its query has expired (held or asked later)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from sandbox.telegram import QUERY_TOO_OLD, Sent, TelegramEmulator

MANAGER = 2001


async def _pressed(tg: TelegramEmulator, client: httpx.AsyncClient) -> tuple[int, str]:
    """The manager presses a button; the update id and the query id the bot reads."""
    card = Sent(message_id=1, chat_id=MANAGER, text="#7", buttons=[], from_bot=True, at=0.0)
    update_id = await tg.user_presses(MANAGER, card, "ack:7")
    updates = (await client.post(f"/bot{tg.token}/getUpdates")).json()["result"]
    return update_id, str(updates[-1]["callback_query"]["id"])


async def _answer(tg: TelegramEmulator, client: httpx.AsyncClient, query: str) -> Any:
    method = f"/bot{tg.token}/answerCallbackQuery"
    return (await client.post(method, data={"callback_query_id": query})).json()


async def _until(check: Any) -> None:
    async with asyncio.timeout(5):
        while not check():  # noqa: ASYNC110 - the emulator has no event to wait on
            await asyncio.sleep(0.01)


@dataclass
class Held:
    """A press whose answer waits in the emulator now."""

    tg: TelegramEmulator
    client: httpx.AsyncClient
    update_id: int
    query: str
    answering: asyncio.Task[Any]


@pytest.fixture
async def held() -> AsyncIterator[Held]:
    tg = TelegramEmulator()
    tg.add_user(MANAGER, "王经理")
    transport = httpx.ASGITransport(app=tg.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://telegram") as client:
        update_id, query = await _pressed(tg, client)
        tg.hold_answers()
        answering = asyncio.create_task(_answer(tg, client, query))
        await _until(lambda: tg.held == [update_id])
        yield Held(tg, client, update_id, query, answering)
        tg.hold_answers(False)
        await answering


async def test_a_held_answer_waits_and_goes_through_when_released(held: Held) -> None:
    tg = held.tg
    assert tg.answer_to(held.update_id) is None
    tg.hold_answers(False)
    assert (await held.answering)["ok"] is True
    assert tg.held == []
    assert tg.answer_to(held.update_id) == {"callback_query_id": held.query}


async def test_an_expired_query_is_too_old_held_or_not(held: Held) -> None:
    tg = held.tg
    tg.expire(held.update_id)
    answered_held = await held.answering
    tg.hold_answers(False)
    later = await _answer(tg, held.client, held.query)
    too_old = {"ok": False, "error_code": 400, "description": QUERY_TOO_OLD}
    assert answered_held == later == too_old
    assert tg.held == []
    assert tg.answer_to(held.update_id) is None
