"""Sending outbox messages through PTB's Bot, mapping Telegram's answers to delivery outcomes."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import TypeVar

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    InputMediaPhoto,
    Message,
)
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.delivery.attachments import Attachment
from bot.delivery.claims import Claimed
from bot.delivery.outcomes import Delivered, Flooded, Outcome, Permanent, Transient
from core.buttons import Button

_T = TypeVar("_T")
log = logging.getLogger(__name__)
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
        # What Telegram refused before, so a retry (after a flood wait) goes the other way at
        # once: photos it would not take, and cards that are of the other kind (text, caption).
        self._refused: set[str] = set()
        self._other_kind: set[tuple[str, str]] = set()

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
            return await self._edit(message, message.edit_message_id, markup)
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

    async def _edit(
        self, message: Claimed, message_id: str, markup: InlineKeyboardMarkup | None
    ) -> Message | bool:
        """Edit a card: a photo's caption as a caption, else its text; when Telegram says the
        message is of the other kind (the card's photo could not be sent, so it went as text),
        the other way."""
        chat, target = int(message.address), int(message_id)

        async def caption() -> Message | bool:
            return await self._bot.edit_message_caption(
                chat_id=chat, message_id=target, caption=message.text, reply_markup=markup
            )

        async def text() -> Message | bool:
            return await self._bot.edit_message_text(
                message.text, chat_id=chat, message_id=target, reply_markup=markup
            )

        first, other = (caption, text) if message.caption else (text, caption)
        card = (message.address, message_id)
        if card in self._other_kind:
            return await other()
        try:
            return await first()
        except BadRequest as error:
            said = str(error).lower()
            if "no caption in the message" in said or "no text in the message" in said:
                _bounded(self._other_kind).add(card)
                return await other()
            raise

    async def _photos(
        self, message: Claimed, markup: InlineKeyboardMarkup | None, *, silent: bool
    ) -> Message:
        """A case's photos: one with the card as its caption, a lone one, or an album (2-10);
        by file id where Telegram knows them, else uploaded and the new id remembered."""
        chat, photos = int(message.address), message.photos
        if len(photos) == 1 and message.text and _key(photos[0]) in self._refused:
            return await self._bot.send_message(
                chat, message.text, reply_markup=markup, disable_notification=silent
            )
        if len(photos) == 1:
            try:
                sent = await self._bot.send_photo(
                    chat,
                    _media(photos[0]),
                    caption=message.text or None,
                    reply_markup=markup,
                    disable_notification=silent,
                )
            except BadRequest as error:
                if not message.text or not _bad_photo(error):
                    raise
                _bounded(self._refused).add(_key(photos[0]))
                # The photo will not go (an id Telegram no longer knows): the card still must.
                return await self._bot.send_message(
                    chat, message.text, reply_markup=markup, disable_notification=silent
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
                try:
                    file_id = message.photo[-1].file_id
                    await self._remember(photo.case_number, photo.position, file_id)
                except Exception:  # the photo went out; the next holder just gets an upload
                    log.exception("the file id of an uploaded photo could not be kept")


def _key(photo: Attachment) -> str:
    """What names a photo to remember it by."""
    return photo.file_id or f"{photo.case_number}:{photo.position}"


def _bounded(found: set[_T], limit: int = 10_000) -> set[_T]:
    """``found``, emptied first when it grew past ``limit`` (a memory, not a record)."""
    if len(found) > limit:
        found.clear()
    return found


def _bad_photo(error: BadRequest) -> bool:
    """Whether Telegram refused the photo itself (its file id or its bytes), not the message."""
    said = str(error).lower()
    return any(word in said for word in ("file", "photo", "image"))


def _media(photo: Attachment, *, attach: bool = False) -> str | InputFile:
    """A photo as Telegram takes it: its file id, else its bytes as an upload (``attach``: in a
    multipart field of its own, as an album's items are)."""
    if photo.file_id is not None:
        return photo.file_id
    assert photo.content is not None
    extension = photo.content_type.rsplit("/", 1)[-1]
    name = f"case-{photo.case_number}-{photo.position}.{extension}"
    return InputFile(photo.content, filename=name, attach=attach)
