"""The Telegram sender with a case's photos, against the loopback Bot API: a captioned card,
an album, uploads whose file ids are kept, caption edits, and a photo Telegram refuses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from telegram import Bot

from bot.delivery.attachments import Attachment
from bot.delivery.claims import Claimed
from bot.delivery.outcomes import Delivered, Permanent
from bot.telegram.sender import TelegramSender
from core.buttons import Button
from sandbox.serve import serving
from sandbox.telegram import Limits, TelegramEmulator

CHAT = 2001
PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)
ACK = [[Button("✅ 接单", "ack:1")]]


def _message(text: str, *photos: Attachment, edit: str | None = None) -> Claimed:
    return Claimed(
        id=1,
        channel="telegram",
        person_id="mgr",
        address=str(CHAT),
        text=text,
        buttons=ACK if text else [],
        urgent=False,
        attempts=0,
        edit_message_id=edit,
        photos=photos,
        caption=edit is not None and bool(photos),
    )


def _stored(position: int) -> Attachment:
    return Attachment(1, position, None, PNG, "image/png")


def _by_id(position: int, file_id: str) -> Attachment:
    return Attachment(1, position, file_id, None, "image/jpeg")


@pytest.fixture
async def emulator() -> AsyncIterator[tuple[TelegramEmulator, Bot]]:
    tg = TelegramEmulator(limits=Limits(enforce=False))
    tg.add_user(CHAT, "王经理")
    async with serving(tg.app) as url:
        bot = Bot(tg.token, base_url=f"{url}/bot")
        async with bot:
            yield tg, bot


async def test_an_upload_is_captioned_and_its_file_id_kept(
    emulator: tuple[TelegramEmulator, Bot],
) -> None:
    tg, bot = emulator
    kept: list[tuple[int, int, str]] = []

    async def remember(number: int, position: int, file_id: str) -> None:
        kept.append((number, position, file_id))

    sender = TelegramSender(bot, remember=remember)
    outcome = await sender.send(_message("📋 新诉求 #1", _stored(0)), silent=False)
    assert isinstance(outcome, Delivered)
    [card] = tg.inbox(CHAT)
    assert (card.photo, card.text, card.button_data()) == (True, "📋 新诉求 #1", ["ack:1"])
    assert tg.photos[card.message_id] == PNG
    assert kept == [(1, 0, card.file_id)]

    # Its edit is a caption edit, on the same message.
    edit = _message("📋 新诉求 #1\n\n处理中", _stored(0), edit=outcome.provider_id)
    edit = replace(edit, buttons=[])
    assert isinstance(await sender.send(edit, silent=False), Delivered)
    assert (card.text, card.buttons, card.edits) == ("📋 新诉求 #1\n\n处理中", [], 1)


async def test_an_album_by_id_and_by_upload(emulator: tuple[TelegramEmulator, Bot]) -> None:
    tg, bot = emulator
    tg.sendable.seen("resident-photo")
    sender = TelegramSender(bot)
    album = _message("", _by_id(0, "resident-photo"), _stored(1))
    assert isinstance(await sender.send(album, silent=True), Delivered)
    sent = tg.inbox(CHAT)
    assert [m.photo for m in sent] == [True, True]
    assert sent[0].file_id == "resident-photo"
    assert sent[0].album == sent[1].album
    assert tg.sendable.uploads == 1


async def test_a_refused_photo_still_delivers_the_card_as_text(
    emulator: tuple[TelegramEmulator, Bot],
) -> None:
    tg, bot = emulator
    sender = TelegramSender(bot)
    outcome = await sender.send(_message("📋 新诉求 #1", _by_id(0, "unknown")), silent=False)
    assert isinstance(outcome, Delivered)
    [card] = tg.inbox(CHAT)
    assert (card.photo, card.text) == (False, "📋 新诉求 #1")
    # An album Telegram refuses is given up on (the card after it goes on its own).
    outcome = await sender.send(_message("", _by_id(0, "x"), _by_id(1, "y")), silent=False)
    assert isinstance(outcome, Permanent)
    assert not outcome.unreachable
