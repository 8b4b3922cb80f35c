"""What a channel adapter declares (its traits, for the use cases) and gives the running process:
its routes, its sender and pacing, how quiet hours apply to it, and its start and stop."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from starlette.routing import BaseRoute

from bot.config import Settings
from bot.delivery.outcomes import Sender
from bot.delivery.pacing import Limits
from bot.services.unit.context import ServiceContext
from bot.services.unit.traits import ChannelTraits


@dataclass(frozen=True, slots=True)
class Wiring:
    """What an adapter is wired with: the settings, the use cases' context, ``kick`` (wakes
    delivery after a commit) and ``pacing`` (limits instead of the channel's own: tests, the
    demo)."""

    settings: Settings
    ctx: ServiceContext
    kick: Callable[[], None]
    pacing: Limits | None = None


@dataclass(slots=True)
class Wired:
    """One channel, wired for this process."""

    routes: list[BaseRoute] = field(default_factory=list)
    sender: Sender | None = None  # None: nothing goes out on it (the console, Open311)
    pacing: Limits = field(default_factory=Limits)
    # In quiet hours a channel sends "silently" (no sound), "holds" messages until they end, or
    # ignores them.
    quiet: Literal["silently", "hold", "ignore"] = "ignore"
    start: Callable[[], Awaitable[None]] | None = None
    stop: Callable[[], Awaitable[None]] | None = None  # no more inbound
    close: Callable[[], Awaitable[None]] | None = None  # after the last send
    # What the process exposes of it (the PTB Application, for the tests).
    handle: Any = None


class Adapter(Protocol):
    """A channel: one package under ``bot/`` and one line in ``bot/channels.py``."""

    @property
    def traits(self) -> ChannelTraits:
        """What the use cases may rely on."""
        ...

    def enabled(self, settings: Settings) -> bool:
        """True when the settings turn this channel on."""
        ...

    def wire(self, setup: Wiring) -> Wired:
        """Build the channel's parts."""
        ...
