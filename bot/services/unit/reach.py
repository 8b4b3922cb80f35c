"""Reaching a person: the language they read, a parameter in that language, and the address
they are reached at among theirs — what the outbox writer and the delivery ask alike."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from bot.services.unit.traits import ChannelBook
from core.texts import normalize_language
from db.models import Identity, Person

# Telegram: a caption holds 1,024 characters and an album 2-10 photos. A card sent as a caption
# keeps room for the status line its edits append (``announce``), so an edit always fits too.
CAPTION_LIMIT = 1024
CAPTION_ROOM = CAPTION_LIMIT - 100
MAX_ALBUM = 10
# A channel that may write to a person only for a while after they last wrote (a reply window):
# what it cannot send once the window has closed goes by the person's next channel, or, when
# they have none, waits — due at this "never" until they next write (a timer as a column).
UNTIL_THEY_WRITE = datetime(9999, 1, 1, tzinfo=UTC)
# How a message not sent because the window had closed says so (its ``last_error`` begins so).
WINDOW_CLOSED = "reply window closed"
# A fallback's idempotency key: the key of the message it stands for, this, and its channel.
FALLBACK = ":fallback-"


def language_of(person: Person | None, default: str) -> str:
    """The language a person reads: theirs from the directory or channel, else the default."""
    return normalize_language(person.language if person else None) or default


def localize(value: Any, language: str) -> Any:
    """Pick the language's variant of a ``{"zh": …, "en": …}`` parameter."""
    if isinstance(value, Mapping) and language in value:
        return value[language]
    return value


def reach(
    identities: Iterable[Identity], book: ChannelBook, *, first: str | None = None
) -> Identity | None:
    """Where to reach someone: of their reachable addresses on channels that send, the one on
    ``first`` (a resident's case channel), else the one they prefer, else the registry's order."""
    order = book.reach_order
    usable = [i for i in identities if i.reachable and i.channel in order]
    if not usable:
        return None
    return min(
        usable,
        key=lambda i: (i.channel != first, not i.preferred, order.index(i.channel)),
    )


def waits_for_them(next_attempt_at: datetime | None) -> bool:
    """True for a message kept until its reader next writes (``UNTIL_THEY_WRITE``)."""
    return next_attempt_at is not None and next_attempt_at.year >= UNTIL_THEY_WRITE.year


def closed_window(error: str | None) -> bool:
    """True for a message given up on here because the channel's reply window had closed."""
    return error is not None and error.startswith(WINDOW_CLOSED)
