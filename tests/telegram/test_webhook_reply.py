"""In webhook mode a button press is answered in the webhook's own 200 (the one method Telegram
runs from a response), after its work is committed: no ``answerCallbackQuery`` call of our own,
the alert's text in the presser's language, nothing carried by a failing update's 500, and at most
one method per response. Telegram is faked at PTB's request seam; the webhook is called as
Starlette calls it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlmodel import select
from starlette.requests import Request
from starlette.responses import Response
from telegram import Bot, CallbackQuery, Update, User
from telegram.ext import Application, ContextTypes

from bot.services.unit.context import ServiceContext
from bot.telegram.answers import answer_press, replying
from bot.telegram.handlers import TelegramGateway
from bot.telegram.webhook import HEADER, TelegramWebhook
from db.models import OutboxMessage
from tests.telegram.test_answers import TOKEN, FakeBotApi

SECRET = "reply-test-secret"
ZH = {"id": 4001, "is_bot": False, "first_name": "李大爷", "language_code": "zh"}
EN = {"id": 4005, "is_bot": False, "first_name": "Anna", "language_code": "en"}


class Failing(TelegramGateway):
    """The handlers, but a press's use case breaks (as when the database is gone)."""

    async def press(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        raise RuntimeError("the database went away")


@dataclass
class Hooked:
    """A started Application behind its webhook, and the Bot API it speaks to."""

    hook: TelegramWebhook
    api: FakeBotApi
    bot: Bot

    async def post(self, update: dict[str, Any]) -> Response:
        """Telegram posts ``update`` to the webhook; its answer."""
        raw = json.dumps(update).encode()
        scope = {
            "type": "http",
            "method": "POST",
            "path": "/telegram/webhook",
            "query_string": b"",
            "headers": [(HEADER.lower().encode(), SECRET.encode())],
        }

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": raw, "more_body": False}

        return await self.hook.handle(Request(scope, receive))


def _kick_fails() -> None:
    raise RuntimeError("the dispatcher is gone")


async def _hooked(
    ctx: ServiceContext,
    gateway: type[TelegramGateway] = TelegramGateway,
    kick: Callable[[], None] = lambda: None,
) -> AsyncIterator[Hooked]:
    api = FakeBotApi((200, {"ok": True, "result": True}))
    handlers = gateway(ctx, kick=kick, default_language="zh")
    app = Application.builder().token(TOKEN).request(api).updater(None).build()
    handlers.register(app)
    async with app:
        await app.start()
        yield Hooked(TelegramWebhook(app, handlers, SECRET), api, app.bot)
        await app.stop()


@pytest.fixture
async def hooked(loaded: ServiceContext) -> AsyncIterator[Hooked]:
    async for running in _hooked(loaded):
        yield running


@pytest.fixture(params=["before the answer", "after the answer"])
async def failing(loaded: ServiceContext, request: pytest.FixtureRequest) -> AsyncIterator[Hooked]:
    """The press's use case fails, or what follows the answer does (the outbox's kick)."""
    before = request.param == "before the answer"
    started = _hooked(loaded, gateway=Failing) if before else _hooked(loaded, kick=_kick_fails)
    async for running in started:
        yield running


def press(update_id: int, data: str, user: dict[str, Any] = ZH) -> dict[str, Any]:
    query = {"id": f"q{update_id}", "from": user, "chat_instance": "1", "data": data}
    return {"update_id": update_id, "callback_query": query}


def carried(response: Response) -> dict[str, Any]:
    """The method call a webhook's 200 carries."""
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    return dict(json.loads(bytes(response.body)))


async def test_a_press_is_answered_in_the_response_after_its_work_is_committed(
    hooked: Hooked, loaded: ServiceContext
) -> None:
    response = await hooked.post(press(1, "l:en"))
    assert carried(response) == {"method": "answerCallbackQuery", "callback_query_id": "q1"}
    assert hooked.api.answers() == []  # no round trip of our own
    async with loaded.db.reading() as session:  # committed when the answer went out
        rows = (await session.exec(select(OutboxMessage))).all()
    assert [m.template for m in rows] == ["tg.lang_set"]
    # Telegram delivers it again: answered the same way, nothing done twice.
    again = await hooked.post(press(1, "l:en"))
    assert carried(again) == {"method": "answerCallbackQuery", "callback_query_id": "q1"}
    async with loaded.db.reading() as session:
        assert len((await session.exec(select(OutboxMessage))).all()) == 1


async def test_a_refused_press_carries_its_alert_in_the_presser_s_language(
    hooked: Hooked,
) -> None:
    zh = carried(await hooked.post(press(2, "no-such-button")))
    en = carried(await hooked.post(press(3, "no-such-button", EN)))
    alert = {"method": "answerCallbackQuery", "show_alert": True}
    assert zh == {**alert, "callback_query_id": "q2", "text": "该按钮已失效。"}
    assert en == {**alert, "callback_query_id": "q3", "text": "This button no longer applies."}
    assert hooked.api.answers() == []


async def test_a_failing_update_answers_500_and_carries_nothing(failing: Hooked) -> None:
    response = await failing.post(press(4, "l:en"))
    assert response.status_code == 500  # Telegram delivers it again
    assert response.body == b""
    assert failing.api.answers() == []  # and the press was not answered by a call either


async def test_one_method_per_response_the_next_answers_are_calls(hooked: Hooked) -> None:
    bot = hooked.bot
    queries = [CallbackQuery(f"q{n}", User(4001, "李大爷", False), "1", data="x") for n in (5, 6)]
    for query in queries:
        query.set_bot(bot)
    with replying() as reply:
        await answer_press(queries[0], "已处理", show_alert=True)
        await answer_press(queries[1])
    assert reply.call == {
        "method": "answerCallbackQuery",
        "callback_query_id": "q5",
        "text": "已处理",
        "show_alert": True,
    }
    assert hooked.api.answers() == [{"callback_query_id": "q6"}]
    await answer_press(queries[0])  # outside the webhook's processing: a call again
    assert hooked.api.answers() == [{"callback_query_id": "q6"}, {"callback_query_id": "q5"}]
