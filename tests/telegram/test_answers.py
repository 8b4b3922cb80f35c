"""A button press is answered best-effort: when Telegram refuses the answer (the query expired,
the network failed), the press still counts as handled — on the normal, refusal and replay paths.
Telegram is faked at PTB's request seam (``BaseRequest``)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from sqlmodel import col, select
from telegram import CallbackQuery, Update, User
from telegram.error import NetworkError, TimedOut
from telegram.ext import Application
from telegram.request import BaseRequest, RequestData

from bot.services.unit.context import ServiceContext
from bot.telegram.answers import answer_press
from bot.telegram.handlers import TelegramGateway
from db.models import OutboxMessage

TOKEN = "123456:ANSWERS-TEST"
TOO_OLD = "Bad Request: query is too old and response timeout expired or query id is invalid"
Outcome = tuple[int, dict[str, Any]] | Exception
USER = {"id": 4001, "is_bot": False, "first_name": "李大爷", "language_code": "zh"}


class FakeBotApi(BaseRequest):
    """The Bot API at PTB's request seam: ``answerCallbackQuery`` answered with ``outcome``."""

    def __init__(self, outcome: Outcome) -> None:
        self.outcome = outcome
        self.asked: list[tuple[str, dict[str, Any]]] = []

    @property
    def read_timeout(self) -> float | None:
        return 1.0

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: object = None,
        write_timeout: object = None,
        connect_timeout: object = None,
        pool_timeout: object = None,
    ) -> tuple[int, bytes]:
        name = url.rsplit("/", 1)[-1]
        self.asked.append((name, request_data.parameters if request_data else {}))
        outcome: Outcome = (200, {"ok": True, "result": True})
        if name == "getMe":
            me = {"id": 123456, "is_bot": True, "first_name": "Wolaiban", "username": "w_bot"}
            outcome = (200, {"ok": True, "result": me})
        elif name == "answerCallbackQuery":
            outcome = self.outcome
        if isinstance(outcome, Exception):
            raise outcome
        status, body = outcome
        return status, json.dumps(body).encode()

    def answers(self) -> list[dict[str, Any]]:
        """What each ``answerCallbackQuery`` asked."""
        return [params for name, params in self.asked if name == "answerCallbackQuery"]


async def handled(
    ctx: ServiceContext,
    *updates: dict[str, Any],
    kick: Callable[[], None] = lambda: None,
    answered: Outcome = (200, {"ok": True, "result": True}),
) -> FakeBotApi:
    """Hand ``updates`` to the Telegram handlers as PTB would, Telegram answering each press's
    answer with ``answered``; the Bot API they spoke to. None of them failed (the webhook would
    answer 200 to each)."""
    api = FakeBotApi(answered)
    gateway = TelegramGateway(ctx, kick=kick, default_language="zh")
    app = Application.builder().token(TOKEN).request(api).updater(None).build()
    gateway.register(app)
    async with app:
        for body in updates:
            await app.process_update(Update.de_json(body, app.bot))
    assert not gateway.failed
    return api


def refused(code: int, description: str) -> Outcome:
    return code, {"ok": False, "error_code": code, "description": description}


def press(update_id: int, data: str) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "callback_query": {"id": f"q{update_id}", "from": USER, "chat_instance": "1", "data": data},
    }


@pytest.mark.parametrize(
    ("outcome", "level"),
    [
        (refused(400, TOO_OLD), logging.INFO),
        (refused(400, "Bad Request: QUERY_ID_INVALID"), logging.INFO),
        (NetworkError("connection reset"), logging.WARNING),
        (TimedOut(), logging.WARNING),
    ],
)
async def test_a_refused_answer_is_one_quiet_line(
    outcome: Outcome, level: int, caplog: pytest.LogCaptureFixture
) -> None:
    api = FakeBotApi(outcome)
    app = Application.builder().token(TOKEN).request(api).updater(None).build()
    async with app:
        query = CallbackQuery("q1", User(4001, "李大爷", False), "1", data="ack:7")
        query.set_bot(app.bot)
        with caplog.at_level(logging.DEBUG, logger="bot.telegram.answers"):
            await answer_press(query, "已处理", show_alert=True)
    assert api.answers() == [{"callback_query_id": "q1", "text": "已处理", "show_alert": True}]
    records = [r for r in caplog.records if r.name == "bot.telegram.answers"]
    assert [(r.levelno, r.exc_info) for r in records] == [(level, None)]
    assert "q1" in records[0].getMessage()


async def test_an_answer_taken_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    api = FakeBotApi((200, {"ok": True, "result": True}))
    app = Application.builder().token(TOKEN).request(api).updater(None).build()
    async with app:
        query = CallbackQuery("q2", User(4001, "李大爷", False), "1", data="ack:7")
        query.set_bot(app.bot)
        with caplog.at_level(logging.DEBUG, logger="bot.telegram.answers"):
            await answer_press(query)
    assert api.answers() == [{"callback_query_id": "q2"}]
    assert [r for r in caplog.records if r.name == "bot.telegram.answers"] == []


async def test_a_press_whose_answer_telegram_refuses_is_still_handled(
    loaded: ServiceContext,
) -> None:
    api = await handled(
        loaded,
        press(1, "l:en"),  # the normal path: the language set, then the answer refused
        press(1, "l:en"),  # the same update again: already handled
        press(2, "no-such-button"),  # refused: the alert refused too
        answered=refused(400, TOO_OLD),
    )
    assert [a["callback_query_id"] for a in api.answers()] == ["q1", "q1", "q2"]
    async with loaded.db.reading() as session:
        rows = (await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all()
    assert [m.template for m in rows] == ["tg.lang_set"]  # once, for the first delivery
