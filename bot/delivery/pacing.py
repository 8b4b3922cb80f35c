"""When the next message may go: an overall rate, spacing per private chat, a window per group,
caps per private chat over longer windows (where a provider counts a person's messages a minute
and an hour), and pauses for one scope after a 429 — so one flooded chat never holds the others
back."""

from __future__ import annotations

from bisect import bisect_right
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
    # (count, seconds): at most ``count`` messages to one private chat within ``seconds``, for
    # each pair (WeCom: 30 a minute and 1,000 an hour per member); none by default.
    chat_caps: tuple[tuple[int, float], ...] = ()


@dataclass(slots=True)
class Pacer:
    """Tracks recent sends on one clock (seconds, monotonic) and says when a scope is free."""

    limits: Limits = field(default_factory=Limits)
    _next_any: float = 0.0
    _next_chat: dict[str, float] = field(default_factory=dict)
    _group_sends: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))
    _chat_sends: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))
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
            if self.limits.chat_caps:
                at = max(at, _caps_free(self._chat_sends[scope], self.limits.chat_caps, now))
        return at

    def sent(self, scope: str, *, group: bool, now: float) -> None:
        """Record a send to ``scope`` at ``now``."""
        self._next_any = max(self._next_any, now) + _MARGIN / self.limits.per_second
        if group:
            self._group_sends[scope].append(now)
        else:
            self._next_chat[scope] = now + self.limits.chat_interval * _MARGIN
            if self.limits.chat_caps:
                self._chat_sends[scope].append(now)

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
        if len(self._chat_sends) > 10_000:  # and the counts of chats not written to for long
            longest = max(span for _, span in self.limits.chat_caps)
            self._chat_sends = defaultdict(
                deque, {k: v for k, v in self._chat_sends.items() if v and now - v[-1] < longest}
            )

    def pause(self, scope: str, seconds: float, *, now: float) -> None:
        """Hold ``scope`` back for ``seconds`` (a 429's retry_after); other scopes go on."""
        self._paused_until[scope] = max(self._paused_until.get(scope, 0.0), now + seconds)


def _caps_free(sends: deque[float], caps: tuple[tuple[int, float], ...], now: float) -> float:
    """When one more send to a chat keeps within every (count, seconds) cap (0.0: now), given
    the times of the sends to it (oldest first; those older than the longest span are dropped)."""
    longest = max(span for _, span in caps)
    while sends and now - sends[0] >= longest:
        sends.popleft()
    at = 0.0
    for count, span in caps:
        recent = len(sends) - bisect_right(sends, now - span)  # sent within the last ``span``
        if recent >= count:  # the count-th latest must age out of the span first
            at = max(at, sends[len(sends) - count] + span * _MARGIN)
    return at
