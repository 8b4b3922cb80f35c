"""The channel registry: every way in and out of Wolaiban, in the order people are reached (a
person is reached on the first of these they can be reached on). A new channel is one adapter
package under ``bot/`` and one line here — see docs/channels.md."""

from __future__ import annotations

from collections.abc import Sequence

from bot.adapter import Adapter
from bot.open311.adapter import Open311Adapter
from bot.services.unit.traits import ChannelBook
from bot.sms.adapter import SmsAdapter
from bot.telegram.adapter import TelegramAdapter
from bot.wecom import ADAPTERS as WECOM

REGISTRY: tuple[Adapter, ...] = (TelegramAdapter(), *WECOM, SmsAdapter(), Open311Adapter())


def book_of(adapters: Sequence[Adapter]) -> ChannelBook:
    """What the use cases know of these channels."""
    return ChannelBook(tuple(a.traits for a in adapters))


BOOK = book_of(REGISTRY)
