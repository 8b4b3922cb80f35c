"""Answering a button press, best-effort: the press's work is committed before its answer, so an
answer Telegram no longer takes (the query expired, was answered already, the network failed) is
logged in one line and never turns the update into a failure (which would make Telegram deliver
it again and again, each time finding it handled and the answer still refused).

In webhook mode the answer rides in the webhook's own response (``replying``): Telegram runs the
one method a response may carry and tells nobody how it went — best-effort, as the call was."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from telegram import CallbackQuery
from telegram.error import BadRequest, TelegramError

log = logging.getLogger(__name__)
# How Telegram words a query that takes no more answers (too late, already answered, unknown).
_GONE = ("query is too old", "query id is invalid", "query_id_invalid")
Call = dict[str, str | bool]


@dataclass
class Reply:
    """The one Bot API call the webhook's response to an update may carry (None: nothing)."""

    call: Call | None = None


# Set by the webhook around one update's processing (PTB runs our blocking handlers inline, in
# the webhook request's own context); unset in polling mode, where every answer is a call.
_REPLY: ContextVar[Reply | None] = ContextVar("telegram_webhook_reply", default=None)


@contextmanager
def replying() -> Iterator[Reply]:
    """Within: the first press answered goes into the yielded reply, not to the Bot API."""
    reply = Reply()
    token = _REPLY.set(reply)
    try:
        yield reply
    finally:
        _REPLY.reset(token)


async def answer_press(
    query: CallbackQuery, text: str | None = None, *, show_alert: bool = False
) -> None:
    """Answer ``query`` (with an alert when ``show_alert``); a refused answer is only logged."""
    reply = _REPLY.get()
    if reply is not None and reply.call is None:  # one method per response; more are calls
        reply.call = _answer_call(query.id, text, show_alert)
        return
    try:
        await query.answer(text, show_alert=show_alert or None)
    except TelegramError as error:  # BadRequest, NetworkError, TimedOut, RetryAfter, ...
        gone = isinstance(error, BadRequest) and any(g in error.message.lower() for g in _GONE)
        level = logging.INFO if gone else logging.WARNING
        name = type(error).__name__
        log.log(level, "button press %s not answered (%s: %s)", query.id, name, error.message)


def _answer_call(query_id: str, text: str | None, show_alert: bool) -> Call:
    """``answerCallbackQuery`` with the parameters PTB would send for the same answer."""
    call: Call = {"method": "answerCallbackQuery", "callback_query_id": query_id}
    if text is not None:
        call["text"] = text
    if show_alert:
        call["show_alert"] = True
    return call
