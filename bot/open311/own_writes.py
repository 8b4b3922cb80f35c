"""Open311's reads that may lag, on the replica (DATABASE_READ_URL) where there is one — but a
key that has just posted reads from the primary until the replica has replayed its POST."""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from bot.services.unit.context import ServiceContext
from db.engine import Database
from db.replica import FAILURES

from . import reading
from .keys import Key
from .updates.listing import Window, find_updates

T = TypeVar("T")
# Keys remembered at once (the most recent writers): a key beyond them reads as one that has
# not posted lately, which a replica a few seconds behind serves rightly.
MAX_KEYS = 10_000


class KeyReads:
    """Each key's last write position in this process, and the reads chosen by it."""

    def __init__(self, ctx: ServiceContext, *, max_keys: int = MAX_KEYS) -> None:
        self.ctx = ctx
        self._written: OrderedDict[int, int] = OrderedDict()
        self._max = max_keys

    async def wrote(self, key: Key) -> None:
        """``key``'s POST is committed: its reads wait for the replica to replay it."""
        try:
            position = await self.ctx.db.written()
        except FAILURES:
            return  # the primary went away after the commit: there is nothing newer to wait for
        if position is None:
            return
        self._written[key.id] = position
        self._written.move_to_end(key.id)
        while len(self._written) > self._max:
            self._written.popitem(last=False)

    async def run(self, key: Key | None, work: Callable[[ServiceContext], Awaitable[T]]) -> T:
        """``work`` on a context reading from the replica when it has replayed ``key``'s last
        POST (a read without a key has none), else — or when the replica fails — the primary."""
        after = self._written.get(key.id) if key is not None else None

        async def on(db: Database) -> T:
            return await work(dataclasses.replace(self.ctx, db=db))

        return await self.ctx.db.read_lagging(on, after=after)

    async def requests(
        self, key: Key | None, wanted: reading.Wanted, reader: reading.Reader, language: str
    ) -> list[dict[str, Any]]:
        """``reading.find_requests`` for the reader of ``key``."""
        return await self.run(key, lambda ctx: reading.find_requests(ctx, wanted, reader, language))

    async def updates(
        self, key: Key, window: Window, language: str, *, base_url: str
    ) -> list[dict[str, Any]]:
        """``find_updates`` for the reader of ``key``."""
        return await self.run(
            key, lambda ctx: find_updates(ctx, window, language, base_url=base_url)
        )
