"""Pulling customer service's messages (``kf/sync_msg``) when WeCom signals them, and once at
start (a signal may have come while we were down).

One instance pulls an account's stream at a time (``stream.take``); each message is handled in
its own use case's transaction, whose receipt (by msgid) makes a message read again harmless;
the cursor moves on only once its whole batch is handled. So a crash re-reads a batch and
handles none of it twice, and nothing is skipped: across restarts and instances alike. A signal
that comes while another instance pulls waits for its lease and pulls after it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx

from bot.services.unit.context import ServiceContext
from bot.wecom.client import WeComClient, WeComError

from . import stream

SYNC = "/cgi-bin/kf/sync_msg"
LIMIT = 1000
LEASE = timedelta(seconds=30)
WAIT_STEP = 0.1  # how often a pull waiting for another instance's lease asks again
INVALID_MSG_TOKEN = 95007  # the callback's Token has expired: pull without it
MAX_FAILURES = 3  # a message whose handling keeps failing is passed over after this many tries

log = logging.getLogger(__name__)
Handle = Callable[[dict[str, Any]], Awaitable[None]]


class Puller:
    """Pulls the accounts' streams for this instance (``owner`` in the leases)."""

    def __init__(
        self,
        ctx: ServiceContext,
        client: WeComClient,
        handle: Handle,
        *,
        owner: str,
        kick: Callable[[], None],
        limit: int = LIMIT,
    ) -> None:
        """``limit``: messages asked for at a time (WeCom's most, unless a test pages)."""
        self._ctx, self._client, self._handle = ctx, client, handle
        self._owner, self._kick, self._limit = owner, kick, limit
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._again: dict[str, str] = {}  # a signal that came during a pull: its Token
        self._failures: dict[str, int] = {}
        self._stopping = False

    def signal(self, open_kfid: str, token: str) -> None:
        """WeCom says the account has news: pull it soon (after the pull under way, if any)."""
        if self._stopping:
            return
        running = self._tasks.get(open_kfid)
        if running is not None and not running.done():
            self._again[open_kfid] = token
            return
        task = asyncio.create_task(self._pulls(open_kfid, token))
        self._tasks[open_kfid] = task

    async def start(self) -> None:
        """Pull every account pulled before, in the background."""
        for open_kfid in await stream.streams(self._ctx):
            self.signal(open_kfid, "")

    async def stop(self) -> None:
        """No more pulls; wait for those under way to end."""
        self._stopping = True
        tasks = [t for t in self._tasks.values() if not t.done()]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def settled(self) -> None:
        """Until no pull is under way or asked for (for the tests)."""
        while any(not t.done() for t in self._tasks.values()):
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def _pulls(self, open_kfid: str, token: str) -> None:
        """Pull, and again while signals came meanwhile."""
        while True:
            try:
                await self.pull(open_kfid, token)
            except Exception:  # WeCom or the database away: the next signal or start pulls
                log.exception("pulling customer service's messages failed")
            if self._stopping or open_kfid not in self._again:
                return
            token = self._again.pop(open_kfid)

    async def pull(self, open_kfid: str, token: str = "") -> int:
        """Pull the account's stream to its end under its lease; the messages handed over."""
        waited = 0.0
        while not await stream.take(self._ctx, open_kfid, self._owner, LEASE):
            if self._stopping or waited > 2 * LEASE.total_seconds():
                return 0  # the holder pulls what we were told of, or its lease runs out
            await asyncio.sleep(WAIT_STEP)
            waited += WAIT_STEP
        try:
            return await self._drain(open_kfid, token)
        finally:
            with contextlib.suppress(Exception):
                await stream.release(self._ctx, open_kfid, self._owner)

    async def _drain(self, open_kfid: str, token: str) -> int:
        """Batches until WeCom has no more; each handled before the cursor moves past it."""
        handled = 0
        at = await stream.cursor(self._ctx, open_kfid)
        while not self._stopping:
            answer = await self._sync(open_kfid, at, token)
            if answer is None:
                token = ""  # the Token expired: WeCom takes the pull without one
                continue
            batch = answer.get("msg_list")
            for raw in batch if isinstance(batch, list) else []:
                if isinstance(raw, dict) and await self._one(raw):
                    handled += 1
            self._kick()
            following = answer.get("next_cursor")
            if not isinstance(following, str) or not 0 < len(following) <= 256:
                break  # no cursor to move to: the next pull starts here again
            if not await stream.advance(self._ctx, open_kfid, at, following):
                break  # another instance moved it: it pulls on from there
            at = following
            if answer.get("has_more") != 1:
                break
            if not await stream.take(self._ctx, open_kfid, self._owner, LEASE):
                break  # renewed between batches; lost, it is another's now
        return handled

    async def _sync(self, open_kfid: str, at: str, token: str) -> dict[str, Any] | None:
        """One ``sync_msg`` call; None when WeCom refused its Token as expired."""
        payload: dict[str, Any] = {"cursor": at, "limit": self._limit, "open_kfid": open_kfid}
        if token:
            payload["token"] = token
        try:
            return await self._client.post(SYNC, payload)
        except WeComError as error:
            if error.errcode == INVALID_MSG_TOKEN and token:
                return None
            raise

    async def _one(self, raw: dict[str, Any]) -> bool:
        """Hand over one message; True when handled. One that fails is tried again with its
        batch — at most ``MAX_FAILURES`` times, so that it cannot hold the stream up forever."""
        msgid = str(raw.get("msgid") or "")
        try:
            await self._handle(raw)
        except (WeComError, httpx.HTTPError, OSError):
            raise  # WeCom or the network: the batch is pulled again later
        except Exception:
            failures = self._failures.get(msgid, 0) + 1
            self._failures[msgid] = failures
            if failures < MAX_FAILURES:
                raise
            log.exception("a customer-service message was passed over after %d tries", failures)
            return False
        return True
