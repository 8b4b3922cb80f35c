"""When the next message may go: an overall rate, spacing per private chat, a window per group,
and pauses for one scope after a 429 — so one flooded chat never holds the others back."""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field

# Aim a little under each limit: our clock and the provider's differ by the network's jitter.
_MARGIN = 1.03


@dataclass(frozen=True, slots=True)
class Limits:
    """Provider limits; the defaults are Telegram's (30/s, 1/s per chat, 20/min per group).
    Every message counts, a new one or an edit: Telegram floods on both."""

    per_second: float = 30.0
    chat_interval: float = 1.0
    group_per_minute: int = 20
    group_window: float = 60.0  # the "minute" of group_per_minute (shorter in tests)


@dataclass(slots=True)
class Pacer:
    """Tracks recent sends on one clock (seconds, monotonic) and says when a scope is free."""

    limits: Limits = field(default_factory=Limits)
    _next_any: float = 0.0
    _next_chat: dict[str, float] = field(default_factory=dict)
    _group_sends: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))
    _paused_until: dict[str, float] = field(default_factory=dict)

    def ready_at(self, scope: str, *, group: bool, now: float) -> float:
        """The earliest time a message to ``scope`` may be sent (``now`` when it may go now)."""
        at = max(now, self._next_any, self._paused_until.get(scope, 0.0))
        if group:
            window = self._group_sends[scope]
            span = self.limits.group_window
            while window and now - window[0] >= span:
                window.popleft()
            if len(window) >= self.limits.group_per_minute:
                at = max(at, window[0] + span * _MARGIN)
        else:
            at = max(at, self._next_chat.get(scope, 0.0))
        return at

    def sent(self, scope: str, *, group: bool, now: float) -> None:
        """Record a send to ``scope`` at ``now``."""
        self._next_any = max(self._next_any, now) + _MARGIN / self.limits.per_second
        if group:
            self._group_sends[scope].append(now)
        else:
            self._next_chat[scope] = now + self.limits.chat_interval * _MARGIN

    def finished(self, scope: str, *, group: bool, now: float) -> None:
        """The send to ``scope`` was answered at ``now``: the next may go one interval later.

        Counting from the answer, not the start, keeps the gap the provider sees at least the
        interval whatever the network's jitter (the provider stamped the last one before it
        answered, and stamps the next one after we send it).
        """
        if not group:
            self._next_chat[scope] = max(
                self._next_chat.get(scope, 0.0), now + self.limits.chat_interval
            )
        if len(self._next_chat) > 10_000:  # forget chats whose spacing has long passed
            self._next_chat = {k: v for k, v in self._next_chat.items() if v > now}

    def pause(self, scope: str, seconds: float, *, now: float) -> None:
        """Hold ``scope`` back for ``seconds`` (a 429's retry_after); other scopes go on."""
        self._paused_until[scope] = max(self._paused_until.get(scope, 0.0), now + seconds)
