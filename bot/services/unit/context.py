"""What every use case needs: the database, the clock, the channels, the limits; actors, refusals
and the state of one unit of work (its session, moment, outbox and sender; ``work`` opens it)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.unit.inbound import Inbound
from bot.services.unit.outbox import Outbox
from bot.services.unit.traits import ChannelBook
from core.cases import Channel
from db.engine import Database
from db.models import Person


def utc_now() -> datetime:
    """The real clock (the composition root's default; tests inject their own)."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class SenderLimits:
    """How much one resident may send: messages per ``message_window``, cases per
    ``case_window``."""

    messages: int = 30
    message_window: timedelta = timedelta(hours=1)
    cases: int = 5
    case_window: timedelta = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class ServiceContext:
    """Dependencies of the use cases, built once by the composition root."""

    db: Database
    clock: Callable[[], datetime] = utc_now
    default_language: str = "zh"
    channels: ChannelBook = field(default_factory=ChannelBook)
    limits: SenderLimits = field(default_factory=SenderLimits)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asks for a change, and through which channel; ``person_id`` None is the system."""

    person_id: str | None
    channel: str

    @classmethod
    def system(cls) -> Actor:
        """The scheduler acting on the clock's behalf."""
        return cls(None, Channel.SYSTEM)

    @property
    def is_system(self) -> bool:
        """True for the scheduler."""
        return self.person_id is None


@dataclass(slots=True)
class ServiceRefusal(Exception):
    """A use case refused: nothing changed; ``reason`` is a text-catalog key for the actor."""

    reason: str
    params: dict[str, Any] = field(default_factory=dict)
    # The language of the person refused, once known (a channel showing the refusal itself).
    language: str | None = None

    def __str__(self) -> str:
        return f"{self.reason} {self.params}" if self.params else self.reason


@dataclass(slots=True)
class Unit:
    """One transaction in progress: its session, the moment it happens at, the outbox of its
    messages and, for an inbound message, who sent it (resolved inside this transaction)."""

    session: AsyncSession
    now: datetime
    default_language: str
    outbox: Outbox
    limits: SenderLimits
    inbound: Inbound | None = None
    sender: Person | None = None

    @property
    def channels(self) -> ChannelBook:
        """The channels of this process."""
        return self.outbox.book

    def actor(self) -> Actor:
        """The sender as the actor of a change, on the channel they wrote on."""
        assert self.sender is not None
        assert self.inbound is not None
        return Actor(self.sender.id, self.inbound.channel)

    def active_sender(self) -> Person:
        """The active person who wrote; anyone else (a retired person, no sender) is refused."""
        person = self.sender
        if person is None or not person.active:
            raise ServiceRefusal("refused.not_entitled")
        return person

    def key(self, prefix: str = "reply") -> str:
        """The outbox key of what this unit says (a replayed inbound says nothing twice)."""
        ident = self.inbound.key if self.inbound else self.now.isoformat()
        return f"{prefix}:{ident}"
