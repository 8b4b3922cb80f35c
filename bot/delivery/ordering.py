"""The answer to a person's own action goes before what it causes for others: the messages
written with an answer (in the same transaction, so at the same time), to other chats, wait for
its first try — never for long, and never for each other."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.delivery.claims import Claimed


@dataclass(slots=True)
class AnswersFirst:
    """Tracks the answers claimed and not yet tried (on one monotonic clock, seconds)."""

    # The longest the messages an action causes for others wait for its answer; past it they go
    # anyway (an answer behind a slow chat, or chats waiting on each other's answers).
    wait: float = 3.0
    _answers: dict[datetime, dict[int, str]] = field(default_factory=dict)  # id -> scope
    _until: dict[datetime, float] = field(default_factory=dict)

    def claimed(self, message: Claimed, scope: str, *, now: float) -> None:
        """``message`` was claimed for ``scope``: if it is an answer, the others written with it
        wait for it from now on."""
        if message.answer and message.written_at is not None:
            self._answers.setdefault(message.written_at, {})[message.id] = scope
            self._until.setdefault(message.written_at, now + self.wait)

    def holds(self, message: Claimed, scope: str, *, now: float) -> float | None:
        """Until when ``message`` (next in ``scope``) waits for an answer written with it to
        another chat; None when it need not."""
        if message.answer or message.written_at is None:
            return None
        answers = self._answers.get(message.written_at)
        if not answers:
            return None
        until = self._until[message.written_at]
        if now >= until:
            self._forget(message.written_at)
            return None
        # the same chat: its messages go in the order they were written
        return until if any(where != scope for where in answers.values()) else None

    def tried(self, message: Claimed) -> None:
        """``message`` was tried, whatever came of it (a chat paused by a 429 holds nobody):
        if it was an answer, the messages waiting for it may go."""
        answers = self._answers.get(message.written_at) if message.written_at else None
        if answers is None:
            return
        answers.pop(message.id, None)
        if not answers and message.written_at is not None:
            self._forget(message.written_at)

    def _forget(self, written_at: datetime) -> None:
        del self._answers[written_at], self._until[written_at]
