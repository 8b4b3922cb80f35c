"""The Telegram emulator honours the one method a webhook's 2xx answer carries, as Telegram does:
run as if the bot had called it (JSON or form-encoded), never from a failed answer, and — held past
its query's expiry — too late for the post, which then fails as unanswered."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.serve import serving
from sandbox.telegram import Sent, TelegramEmulator

MANAGER = 2001
CARD = Sent(message_id=1, chat_id=MANAGER, text="#7", buttons=[], from_bot=True, at=0.0)


@dataclass
class Bot:
    """A webhook answering each post with ``answer``, given the callback query's id."""

    answer: str = "{}"
    kind: str = "application/json"
    status: int = 200
    posted: list[str] = field(default_factory=list)

    async def webhook(self, request: Request) -> Response:
        query = (await request.json())["callback_query"]["id"]
        self.posted.append(query)
        return Response(self.answer.replace("QUERY", query), self.status, media_type=self.kind)


@pytest.fixture
async def hooked() -> AsyncIterator[tuple[TelegramEmulator, Bot]]:
    tg, bot = TelegramEmulator(), Bot()
    tg.add_user(MANAGER, "王经理")
    app = Starlette(routes=[Route("/hook", bot.webhook, methods=["POST"])])
    async with serving(app) as url:
        tg.webhook = {"url": f"{url}/hook", "secret_token": "s"}
        yield tg, bot


ALERT = '{"method": "answerCallbackQuery", "callback_query_id": "QUERY", "text": "已处理",'
ALERT += ' "show_alert": true}'
FORM = "method=answerCallbackQuery&callback_query_id=QUERY&text=ok&show_alert=true"


@pytest.mark.parametrize(
    ("answer", "kind", "text"),
    [(ALERT, "application/json", "已处理"), (FORM, "application/x-www-form-urlencoded", "ok")],
)
async def test_the_method_an_answer_carries_is_run_as_if_called(
    hooked: tuple[TelegramEmulator, Bot], answer: str, kind: str, text: str
) -> None:
    tg, bot = hooked
    bot.answer, bot.kind = answer, kind
    update_id = await tg.user_presses(MANAGER, CARD, "ack:7")
    (query,) = bot.posted
    assert tg.answer_to(update_id) == {"callback_query_id": query, "text": text, "show_alert": True}
    assert tg.calls["answercallbackquery"] == 0  # nobody called it
    assert [r["method"] for r in tg.replies] == ["answerCallbackQuery"]


async def test_any_method_may_ride_in_the_answer(hooked: tuple[TelegramEmulator, Bot]) -> None:
    tg, bot = hooked
    bot.answer = f'{{"method": "sendMessage", "chat_id": {MANAGER}, "text": "收到"}}'
    await tg.user_presses(MANAGER, CARD, "ack:7")
    assert [m.text for m in tg.inbox(MANAGER)] == ["收到"]


async def test_a_failed_answer_runs_nothing(hooked: tuple[TelegramEmulator, Bot]) -> None:
    tg, bot = hooked
    bot.answer, bot.status = ALERT, 500
    with pytest.raises(RuntimeError, match="500"):
        await tg.user_presses(MANAGER, CARD, "ack:7")
    assert tg.alerts == []
    assert tg.replies == []


async def test_a_held_answer_goes_through_when_released(
    hooked: tuple[TelegramEmulator, Bot],
) -> None:
    tg, bot = hooked
    pressing = await _held(tg, bot)
    assert tg.alerts == []
    tg.hold_answers(False)
    update_id = await pressing
    assert tg.answer_to(update_id) is not None


async def test_a_held_answer_past_its_query_fails_the_post(
    hooked: tuple[TelegramEmulator, Bot],
) -> None:
    tg, bot = hooked
    pressing = await _held(tg, bot)
    (update_id,) = tg.held
    tg.expire(update_id)
    with pytest.raises(httpx.ReadTimeout):  # Telegram gave up on the post: it delivers again
        await pressing
    assert tg.answer_to(update_id) is None
    tg.hold_answers(False)
    await tg.replay(update_id)  # answered again, to an expired query: refused, and said nowhere
    assert tg.answer_to(update_id) is None
    assert len(tg.replies) == 2


async def _held(tg: TelegramEmulator, bot: Bot) -> asyncio.Task[int]:
    """A press whose webhook answer (an alert) the emulator holds now; the post, going on."""
    bot.answer = ALERT
    tg.hold_answers()
    pressing = asyncio.create_task(tg.user_presses(MANAGER, CARD, "ack:7"))
    await _until(lambda: bool(tg.held))
    return pressing


async def _until(check: Callable[[], bool]) -> None:
    async with asyncio.timeout(5):
        while not check():  # noqa: ASYNC110 - the emulator has no event to wait on
            await asyncio.sleep(0.01)
