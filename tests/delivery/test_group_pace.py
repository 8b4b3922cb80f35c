"""Edits count against a chat's pace like new messages: Telegram floods on both, and a group takes
20 a minute. Here a group takes 4 per 2-second window (the same rule, scaled down in time), and
cards with their edits reach it without one 429."""

from __future__ import annotations

from telegram import Bot

from bot.channels import BOOK
from bot.delivery.pacing import Limits, Pacer
from bot.services.unit.context import ServiceContext
from db.engine import Database
from sandbox.telegram import Limits as TelegramLimits
from sandbox.telegram import TelegramEmulator
from tests.delivery.test_card_edits import card, delivering, edit

GROUP = -1001  # a group chat (negative id)
PER_WINDOW, WINDOW = 4, 2.0
CARDS = 4


async def test_edits_to_a_group_are_paced_like_sends(
    db: Database, telegram: tuple[TelegramEmulator, Bot]
) -> None:
    emulator, bot = telegram
    emulator.limits = TelegramLimits(group_per_minute=PER_WINDOW, group_window=WINDOW)
    ctx = ServiceContext(channels=BOOK, db=db, default_language="zh")
    pacer = Pacer(Limits(group_per_minute=PER_WINDOW, group_window=WINDOW))
    cards = [await card(ctx, chat=GROUP, number=n) for n in range(1, CARDS + 1)]
    for row in cards:
        await edit(ctx, row, "处理中")  # each goes once its card is out: a full window later
    async with delivering(ctx, bot, pacer=pacer):
        pass
    shown = emulator.inbox(GROUP)
    assert [m.text.splitlines()[-1] for m in shown] == ["处理中"] * CARDS  # every edit applied
    assert emulator.too_many_requests == 0
    # what the group received, new messages and edits alike, never over the limit in a window
    times = sorted(t for m in shown for t, _, _ in m.history)
    assert len(times) == 2 * CARDS
    for i in range(len(times) - PER_WINDOW):
        assert times[i + PER_WINDOW] - times[i] >= WINDOW * 0.98
