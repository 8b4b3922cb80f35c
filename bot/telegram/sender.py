"""Sending outbox messages through PTB's Bot, mapping Telegram's answers to delivery outcomes."""

from __future__ import annotations

from datetime import timedelta

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.delivery.outcomes import Delivered, Flooded, Outcome, Permanent, Transient
from bot.services.outbox import Claimed
from core.buttons import Button

_GONE = ("chat not found", "user is deactivated", "bot was blocked", "bot was kicked")


def keyboard(buttons: list[list[Button]]) -> InlineKeyboardMarkup | None:
    """Rendered button rows as Telegram's inline keyboard (None for no buttons)."""
    rows = [[InlineKeyboardButton(b.label, callback_data=b.data) for b in row] for row in buttons]
    return InlineKeyboardMarkup(rows) if any(rows) else None


class TelegramSender:
    """The Telegram way out."""

    def __init__(self, bot: Bot) -> None:
        self._bot = bot

    def scope(self, message: Claimed) -> tuple[str, bool]:
        """One scope per chat; negative chat ids are groups."""
        return f"telegram:{message.address}", message.address.startswith("-")

    async def send(self, message: Claimed, *, silent: bool) -> Outcome:
        """Send or edit; Telegram's refusals become outcomes, never exceptions."""
        try:
            sent = await self._deliver(message, silent=silent)
        except RetryAfter as error:
            wait = error.retry_after
            return Flooded(wait.total_seconds() if isinstance(wait, timedelta) else float(wait))
        except Forbidden as error:
            return Permanent(str(error), unreachable=True)
        except BadRequest as error:
            text = str(error).lower()
            if "message is not modified" in text and message.edit_message_id:
                return Delivered(message.edit_message_id)  # it already reads this way
            return Permanent(str(error), unreachable=any(g in text for g in _GONE))
        except NetworkError as error:  # includes TimedOut
            return Transient(str(error) or type(error).__name__)
        except TelegramError as error:
            return Transient(str(error) or type(error).__name__)
        return Delivered(str(sent.message_id) if isinstance(sent, Message) else "")

    async def _deliver(self, message: Claimed, *, silent: bool) -> Message | bool:
        markup = keyboard(message.buttons)
        if message.edit_message_id:
            return await self._bot.edit_message_text(
                message.text,
                chat_id=int(message.address),
                message_id=int(message.edit_message_id),
                reply_markup=markup,
            )
        if message.photo is not None:
            return await self._bot.send_photo(
                int(message.address),
                message.photo,
                caption=message.text,
                reply_markup=markup,
                disable_notification=silent,
            )
        return await self._bot.send_message(
            int(message.address), message.text, reply_markup=markup, disable_notification=silent
        )
