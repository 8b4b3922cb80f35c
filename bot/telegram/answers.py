"""Answering a button press, best-effort: the press's work is committed before its answer, so an
answer Telegram no longer takes (the query expired, was answered already, the network failed) is
logged in one line and never turns the update into a failure (which would make Telegram deliver
it again and again, each time finding it handled and the answer still refused)."""

from __future__ import annotations

import logging

from telegram import CallbackQuery
from telegram.error import BadRequest, TelegramError

log = logging.getLogger(__name__)
# How Telegram words a query that takes no more answers (too late, already answered, unknown).
_GONE = ("query is too old", "query id is invalid", "query_id_invalid")


async def answer_press(
    query: CallbackQuery, text: str | None = None, *, show_alert: bool = False
) -> None:
    """Answer ``query`` (with an alert when ``show_alert``); a refused answer is only logged."""
    try:
        await query.answer(text, show_alert=show_alert or None)
    except TelegramError as error:  # BadRequest, NetworkError, TimedOut, RetryAfter, ...
        gone = isinstance(error, BadRequest) and any(g in error.message.lower() for g in _GONE)
        level = logging.INFO if gone else logging.WARNING
        name = type(error).__name__
        log.log(level, "button press %s not answered (%s: %s)", query.id, name, error.message)
