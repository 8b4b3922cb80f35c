"""What a provider made of one message, in our words; each sender maps its vendor's errors here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.delivery.claims import Claimed


@dataclass(frozen=True, slots=True)
class Delivered:
    """Accepted; ``provider_id`` names the message at the provider (to edit it later)."""

    provider_id: str


@dataclass(frozen=True, slots=True)
class Flooded:
    """Too many requests: this scope waits ``seconds``; nothing failed."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Transient:
    """A failure that may pass (network, timeout, provider error): retry with backoff."""

    error: str


@dataclass(frozen=True, slots=True)
class Permanent:
    """A failure retrying cannot mend; ``unreachable`` when the person cannot get messages here,
    ``opted_out`` when the number unsubscribed."""

    error: str
    unreachable: bool = False
    opted_out: bool = False


Outcome = Delivered | Flooded | Transient | Permanent


class Sender(Protocol):
    """A channel's way out: sends one claimed message and says what happened."""

    async def send(self, message: Claimed, *, silent: bool) -> Outcome:
        """Send ``message`` (quietly when ``silent``); never raises for a provider's refusal."""
        ...

    def scope(self, message: Claimed) -> tuple[str, bool]:
        """The pacing scope of a message and whether it is a group's."""
        ...
