"""Sending outbox messages through PTB's Bot, mapping Telegram's answers to delivery outcomes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    InputMediaPhoto,
    Message,
)
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.delivery.outcomes import Delivered, Flooded, Outcome, Permanent, Transient
from bot.services.outbox import Claimed
from bot.services.photos import Attachment
from core.buttons import Button

_GONE = ("chat not found", "user is deactivated", "bot was blocked", "bot was kicked")


def keyboard(buttons: list[list[Button]]) -> InlineKeyboardMarkup | None:
    """Rendered button rows as Telegram's inline keyboard (None for no buttons)."""
    rows = [[InlineKeyboardButton(b.label, callback_data=b.data) for b in row] for row in buttons]
    return InlineKeyboardMarkup(rows) if any(rows) else None


# Told the file id Telegram gave a photo we uploaded (case number, position, file id).
Remember = Callable[[int, int, str], Awaitable[None]]


class TelegramSender:
    """The Telegram way out."""

    def __init__(self, bot: Bot, *, remember: Remember | None = None) -> None:
        self._bot = bot
        self._remember = remember

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
        if message.edit_message_id and message.caption:
            # A card that went out as a photo's caption is edited as a caption.
            return await self._bot.edit_message_caption(
                chat_id=int(message.address),
                message_id=int(message.edit_message_id),
                caption=message.text,
                reply_markup=markup,
            )
        if message.edit_message_id:
            return await self._bot.edit_message_text(
                message.text,
                chat_id=int(message.address),
                message_id=int(message.edit_message_id),
                reply_markup=markup,
            )
        if message.photos:
            return await self._photos(message, markup, silent=silent)
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

    async def _photos(
        self, message: Claimed, markup: InlineKeyboardMarkup | None, *, silent: bool
    ) -> Message:
        """A case's photos: one with the card as its caption, a lone one, or an album (2-10);
        by file id where Telegram knows them, else uploaded and the new id remembered."""
        chat, photos = int(message.address), message.photos
        if len(photos) == 1:
            sent = await self._bot.send_photo(
                chat,
                _media(photos[0]),
                caption=message.text or None,
                reply_markup=markup,
                disable_notification=silent,
            )
            await self._learn(photos[:1], (sent,))
            return sent
        album = await self._bot.send_media_group(
            chat,
            [InputMediaPhoto(_media(photo, attach=True)) for photo in photos[:10]],
            disable_notification=silent,
        )
        await self._learn(photos, album)
        return album[0]

    async def _learn(self, photos: Sequence[Attachment], sent: Sequence[Message]) -> None:
        """Keep the file ids Telegram gave the photos that were uploaded."""
        if self._remember is None:
            return
        for photo, message in zip(photos, sent, strict=False):
            if photo.file_id is None and message.photo:
                await self._remember(photo.case_number, photo.position, message.photo[-1].file_id)


def _media(photo: Attachment, *, attach: bool = False) -> str | InputFile:
    """A photo as Telegram takes it: its file id, else its bytes as an upload (``attach``: in a
    multipart field of its own, as an album's items are)."""
    if photo.file_id is not None:
        return photo.file_id
    assert photo.content is not None
    extension = photo.content_type.rsplit("/", 1)[-1]
    name = f"case-{photo.case_number}-{photo.position}.{extension}"
    return InputFile(photo.content, filename=name, attach=attach)
