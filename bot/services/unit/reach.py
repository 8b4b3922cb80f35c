"""Reaching a person: the language they read, a parameter in that language, and the address
they are reached at among theirs — what the outbox writer and the delivery ask alike."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bot.services.unit.traits import ChannelBook
from core.texts import normalize_language
from db.models import Identity, Person

# Telegram: a caption holds 1,024 characters and an album 2-10 photos. A card sent as a caption
# keeps room for the status line its edits append (``announce``), so an edit always fits too.
CAPTION_LIMIT = 1024
CAPTION_ROOM = CAPTION_LIMIT - 100
MAX_ALBUM = 10


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
