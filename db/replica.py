"""A PostgreSQL streaming replica for reads that may lag: how far it has replayed the primary's
WAL, whether it answers at all, and how many reads each side served."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from db.directory_cache import DirectoryCache

log = logging.getLogger("wolaiban")

# How far a server has replayed: a standby its replay position, a server that is no standby
# (promoted, or the primary itself named by mistake) everything it has written.
_REPLAYED = text(
    "select case when pg_is_in_recovery() then pg_last_wal_replay_lsn() "
    "else pg_current_wal_lsn() end"
)
# The primary's insert position: at or past the end of every commit made before it is read (the
# write position may trail a commit made with synchronous_commit off).
_WRITTEN = text("select pg_current_wal_insert_lsn()")
# What a failing replica raises: a refused or dropped connection, a timeout, a cancelled query
# (a hot standby cancels queries that conflict with the replay).
FAILURES = (DBAPIError, SQLAlchemyError, OSError, asyncio.TimeoutError)


def parse_lsn(value: object) -> int:
    """A WAL position as a number that orders as the WAL does (asyncpg already gives one; the
    text form is ``16/B374D848``); 0 for none."""
    if isinstance(value, int):
        return value
    if not isinstance(value, str) or "/" not in value:
        return 0
    high, _, low = value.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


async def written(engine: AsyncEngine) -> int:
    """The primary's WAL position now: every transaction committed before this call is in the
    WAL below it, so a replica that has replayed this far shows it."""
    async with engine.connect() as connection:
        return parse_lsn((await connection.execute(_WRITTEN)).scalar_one())


class Replica:
    """The replica's engine and sessions, and which reads it may serve: one asked to see
    everything up to a WAL position, only once it has replayed that far; none while it does not
    answer (it is asked again after ``recheck`` seconds; the change is logged once)."""

    def __init__(
        self,
        url: str,
        *,
        recheck: float = 5.0,
        poll: float = 0.05,
        connect_timeout: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``recheck``: seconds a known position (or a failure) is trusted; ``poll``: the least
        time between two askings while a reader waits for the replay to reach their write."""
        self.url = url
        self.engine = create_async_engine(
            url,
            pool_pre_ping=True,
            # Even a read URL naming the primary by mistake never takes a write.
            connect_args={
                "timeout": connect_timeout,
                "server_settings": {"default_transaction_read_only": "on"},
            },
        )
        # Its own directory cache: a replica's older directory must not evict the primary's.
        self.directory_cache = DirectoryCache()
        self.sessions = async_sessionmaker(
            self.engine,
            class_=AsyncSession,
            expire_on_commit=False,
            info=self.directory_cache.session_info(),
        )
        self.served: Counter[str] = Counter({"replica": 0, "primary": 0})
        self._recheck, self._poll, self._clock = recheck, poll, clock
        self._replayed: int | None = None
        self._asked_at = float("-inf")
        self._down_since: float | None = None

    def _where(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    async def replayed(self) -> int | None:
        """How far the replica has replayed the primary's WAL, asked now; None when it does not
        answer (then reads go to the primary until it is asked again)."""
        self._asked_at = self._clock()
        try:
            async with self.engine.connect() as connection:
                found = parse_lsn((await connection.execute(_REPLAYED)).scalar_one())
        except FAILURES as error:
            self.failed(error)
            return None
        if self._down_since is not None:
            log.info("the replica %s answers again: reads that may lag go to it", self._where())
            self._down_since = None
        self._replayed = max(found, self._replayed or 0)  # replay only moves forward
        return self._replayed

    def failed(self, error: BaseException) -> None:
        """The replica failed a read: none goes to it until it is asked again (said once)."""
        self._replayed, self._asked_at = None, self._clock()
        if self._down_since is None:
            reason = str(getattr(error, "orig", None) or error).strip().splitlines()[:1]
            log.warning(
                "the replica %s failed (%s): reads go to the primary",
                self._where(),
                reason[0] if reason else type(error).__name__,
            )
            self._down_since = self._asked_at

    async def reached(self, after: int | None) -> bool:
        """Whether a read that must see the primary's WAL up to ``after`` (None: no write of its
        own to see) may be served by the replica now."""
        elapsed = self._clock() - self._asked_at
        known = self._replayed
        if elapsed < self._recheck and (known is None or after is None or known >= after):
            # Known well enough: it answered lately (and has replayed far enough), or it failed
            # lately and is left alone until ``recheck``.
            return known is not None
        if known is not None and after is not None and known < after and elapsed < self._poll:
            return False  # it was asked a moment ago; the primary serves meanwhile
        found = await self.replayed()
        return found is not None and (after is None or found >= after)

    def count(self, side: str) -> None:
        """One read served by ``side`` (``replica`` or ``primary``), for ``/metrics``."""
        self.served[side] += 1

    async def dispose(self) -> None:
        """Close the replica's pooled connections."""
        await self.engine.dispose()
