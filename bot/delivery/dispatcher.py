"""The dispatcher: claims due outbox rows of one channel and sends them within the limits.

Messages to one chat go one at a time and in order; different chats go side by side, each at its
own pace, so a chat paused by a 429 holds back nobody else; the answer to a person's own action
goes before the messages it causes for others (``answers.py``). Results are written back as they
come: sent (with the provider's id), retried with exponential backoff and full jitter, or
dead-lettered.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import random
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot import processes
from bot.delivery import claims, results
from bot.delivery.claims import Claimed
from bot.delivery.ordering import AnswersFirst
from bot.services.unit.context import ServiceContext

from .outcomes import Delivered, Flooded, Outcome, Permanent, Sender, Transient
from .pacing import Pacer

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Settings:
    """How hard the dispatcher works and how long it keeps trying."""

    batch: int = 300
    # A crashed process's claimed messages wait this long before another claim takes them; the
    # living dispatcher renews its claims well before (a third of the way), so none goes twice.
    lease: timedelta = timedelta(seconds=20)
    poll_seconds: float = 0.5
    # New rows are claimed at most this often: under a burst of reports each commit kicks, and a
    # claim per kick took the database's write lock as often as the reports themselves.
    claim_gap: float = 0.05
    max_attempts: int = 8
    backoff_base: float = 2.0
    backoff_cap: float = 600.0
    concurrency: int = 32
    # The longest the messages an action causes for others wait for its answer (answers.py).
    answer_wait: float = 3.0


def backoff(attempt: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Full jitter: a random wait up to ``base × 2^attempt`` seconds, never over ``cap``."""
    return rng.uniform(0, min(cap, base * 2**attempt))


def _by_id(message: Claimed) -> int:
    return message.id


def _by_head(item: tuple[str, deque[Claimed]]) -> tuple[bool, int]:
    """Answers first, then the oldest: see ``Dispatcher._send_ready``."""
    queue = item[1]
    return (not queue[0].answer, queue[0].id) if queue else (False, 0)


class Dispatcher:
    """Sends one channel's outbox."""

    def __init__(
        self,
        ctx: ServiceContext,
        *,
        channel: str,
        sender: Sender,
        pacer: Pacer,
        settings: Settings = Settings(),
        quiet_now: Callable[[], Awaitable[bool]] | None = None,
        hold_until: Callable[[], Awaitable[datetime | None]] | None = None,
        on_fallback: Callable[[], None] | None = None,
    ) -> None:
        """``quiet_now``: send non-urgent messages silently while it says so (Telegram);
        ``hold_until``: keep non-urgent messages until then (SMS in quiet hours)."""
        self._ctx, self._channel, self._sender, self._pacer = ctx, channel, sender, pacer
        self._settings = settings
        self._quiet_now = quiet_now
        self._hold_until = hold_until
        self._on_fallback = on_fallback
        self._queues: dict[str, deque[Claimed]] = defaultdict(deque)
        self._groups: dict[str, bool] = {}
        self._held: set[int] = set()
        self._busy: set[str] = set()
        self._answers_first = AnswersFirst(wait=settings.answer_wait)
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._fresh = False  # rows were committed since the last claim
        self._stopping = False
        self._rng = random.Random()
        self._slots = asyncio.Semaphore(settings.concurrency)
        # Sends that succeeded wait here to be written together: while one transaction writes,
        # the results that arrive meanwhile gather for the next (one write per batch, not per
        # message, and no waiting when there is no crowd).
        self._sent: dict[int, tuple[str, asyncio.Future[None]]] = {}
        self._writing = asyncio.Lock()
        self._silent = False
        self._holder = processes.holder_id()
        self._next_reap = 0.0

    def kick(self) -> None:
        """New rows were committed: look now (or within ``claim_gap``), not at the next poll."""
        self._fresh = True
        self._wake.set()

    async def run(self) -> None:
        """Claim and send until ``stop``."""
        gap, poll = self._settings.claim_gap, self._settings.poll_seconds
        last_claim, next_claim = -gap, 0.0
        renew_every = self._settings.lease.total_seconds() / 3
        next_renewal = time.monotonic() + renew_every
        while not self._stopping:
            now = time.monotonic()
            if now >= next_renewal and self._held:
                await self._renew()
                next_renewal = now + renew_every
            if now >= next_claim or (self._fresh and now >= last_claim + gap):
                self._fresh = False
                await self._claim()
                last_claim = time.monotonic()
                next_claim = last_claim + poll
            self._wake.clear()
            wait = min(self._send_ready(), next_claim - time.monotonic())
            if self._fresh:
                wait = min(wait, last_claim + gap - time.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(wait, 0.0))

    async def stop(self) -> None:
        """Finish the sends in flight and return."""
        self._stopping = True
        self._wake.set()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    @property
    def idle(self) -> bool:
        """Nothing held and nothing in flight."""
        return not self._held and not self._tasks

    async def _claim(self) -> None:
        room = self._settings.batch - len(self._held)
        if room <= 0:
            return
        # Whether another process of this machine died holding claims: asked at the first claim
        # (a restart takes them at once) and then at the renewal cadence, not at every claim.
        now = time.monotonic()
        reap = now >= self._next_reap
        try:
            hold = await self._hold_until() if self._hold_until else None
            rows = await claims.claim_due(
                self._ctx,
                channel=self._channel,
                limit=room,
                lease=self._settings.lease,
                hold_until=hold,
                holder=self._holder,
                gone=processes.is_gone if reap else None,
            )
            if reap:
                self._next_reap = now + self._settings.lease.total_seconds() / 3
            self._silent = bool(self._quiet_now and await self._quiet_now())
        except Exception:  # the database may be away for a moment; the next poll tries again
            log.exception("claiming %s outbox rows failed", self._channel)
            return
        for row in rows:
            if row.id in self._held:
                continue  # our own, claimed again: the claim renewed its lease
            scope, group = self._sender.scope(row)
            # A chat's messages go in the order they were written (a card before its edits, an
            # older edit before a newer one), whichever claim brought each in.
            bisect.insort(self._queues[scope], row, key=_by_id)
            self._groups[scope] = group
            self._held.add(row.id)
            self._answers_first.claimed(row, scope, now=time.monotonic())

    async def _renew(self) -> None:
        try:
            await results.renew_claims(
                self._ctx, ids=sorted(self._held), lease=self._settings.lease
            )
        except Exception:  # the next renewal tries again; the lease still has two thirds left
            log.exception("renewing %s outbox claims failed", self._channel)

    def _send_ready(self) -> float:
        """Start every send whose scope is free now; return seconds until the next one is."""
        now = time.monotonic()
        soonest = self._settings.poll_seconds
        # Across chats: answers first, then the oldest message first. The answer to a person's
        # own action starts before the notices it causes for others, which wait for it.
        for scope, queue in sorted(self._queues.items(), key=_by_head):
            if not queue:
                del self._queues[scope]
                continue
            if scope in self._busy:
                continue
            answer_until = self._answers_first.holds(queue[0], scope, now=now)
            if answer_until is not None:
                soonest = min(soonest, answer_until - now)
                continue
            group = self._groups[scope]
            at = self._pacer.ready_at(scope, group=group, now=now)
            if at > now:
                soonest = min(soonest, at - now)
                continue
            message = queue.popleft()
            self._pacer.sent(scope, group=group, now=now)
            self._busy.add(scope)
            task = asyncio.create_task(self._send(scope, message))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            now = time.monotonic()
        return max(soonest, 0.0)

    async def _send(self, scope: str, message: Claimed) -> None:
        try:
            async with self._slots:
                silent = self._silent and not message.urgent
                outcome = await self._sender.send(message, silent=silent)
            await self._record(scope, message, outcome)
        except Exception:  # a bug or a database outage must not kill the loop; the lease retries
            log.exception("delivering outbox row %s failed", message.id)
            self._held.discard(message.id)
        finally:
            self._pacer.finished(scope, group=self._groups.get(scope, False), now=time.monotonic())
            self._busy.discard(scope)
            self._answers_first.tried(message)
            if scope not in self._queues:  # nothing more for this chat: forget it
                self._groups.pop(scope, None)
            self._wake.set()

    async def _record_sent(self, message_id: int, provider_id: str) -> None:
        """Write that the message was sent, with whatever other sends finished meanwhile."""
        written = asyncio.get_running_loop().create_future()
        self._sent[message_id] = (provider_id, written)
        async with self._writing:
            if not written.done():
                batch, self._sent = self._sent, {}
                try:
                    await results.record_sent(
                        self._ctx, sent={i: provider for i, (provider, _) in batch.items()}
                    )
                except BaseException as error:  # each waiting send hears of it as its own
                    for other, (_, future) in batch.items():
                        if other == message_id:
                            continue  # this send raises it itself
                        if isinstance(error, asyncio.CancelledError):
                            future.cancel()
                        else:
                            future.set_exception(error)
                    raise
                else:
                    for _, future in batch.values():
                        future.set_result(None)
        await written

    async def _record(self, scope: str, message: Claimed, outcome: Outcome) -> None:
        ctx = self._ctx
        match outcome:
            case Delivered(provider_id):
                await self._record_sent(message.id, provider_id)
            case Flooded(seconds):
                self._pacer.pause(scope, seconds, now=time.monotonic())
                # back in line, in its place, once the pause ends
                bisect.insort(self._queues[scope], message, key=_by_id)
                return
            case Transient(error) if message.attempts + 1 < self._settings.max_attempts:
                wait = backoff(
                    message.attempts,
                    base=self._settings.backoff_base,
                    cap=self._settings.backoff_cap,
                    rng=self._rng,
                )
                at = ctx.clock() + timedelta(seconds=wait)
                await results.record_retry(
                    ctx, message_id=message.id, at=at, error=error, count=True
                )
            case Transient(error):
                await results.record_dead(
                    ctx, message_id=message.id, error=error, unreachable=False
                )
            case Permanent(error, unreachable, opted_out):
                # A closed reply window: elsewhere, or kept until the person writes again.
                fallback = await results.record_dead(
                    ctx,
                    message_id=message.id,
                    error=error,
                    unreachable=unreachable,
                    opted_out=opted_out,
                    waits=isinstance(outcome, results.UntilTheyWrite),
                )
                if fallback is not None and self._on_fallback is not None:
                    self._on_fallback()
        self._held.discard(message.id)
