"""An access token shared by every instance through table provider_token: read by all, renewed
before it expires (or once refused) by the one instance holding the row's short lease."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.unit.context import utc_now
from db.engine import Database
from db.models.providers import ProviderToken

# WeCom's tokens live 7,200 s; one is renewed when this little is left, so that no call made
# with it fails for its age in flight.
REFRESH_BEFORE = timedelta(minutes=5)
# Longer than a fetch can take (the client's timeout): a holder that died frees it by then.
LEASE = timedelta(seconds=30)
# While the token still works, an instance that failed to renew it early tries again this late.
RETRY_EARLY = timedelta(seconds=60)
MAX_TOKEN_CHARS = 1024

log = logging.getLogger(__name__)
_TABLE = cast(Table, ProviderToken.__table__)  # type: ignore[attr-defined]

Fetch = Callable[[], Awaitable[tuple[str, int]]]


def instance_name() -> str:
    """This process's name in a lease: its host and process id (unique among the instances)."""
    return f"{socket.gethostname()[:48]}:{os.getpid()}"


class TokenStore:
    """The access token of one set of credentials (``key``), shared through the database."""

    def __init__(
        self,
        database: Database,
        key: str,
        fetch: Fetch,
        *,
        owner: str,
        clock: Callable[[], datetime] = utc_now,
        poll: float = 0.05,
    ) -> None:
        self._db, self._key, self._fetch = database, key, fetch
        self._owner, self._clock, self._poll = owner, clock, poll
        self._cached: tuple[str, datetime] | None = None
        self._early_after: datetime | None = None  # no early renewal before this
        self._lock = asyncio.Lock()  # one renewal at a time from this instance

    async def token(self) -> str:
        """A token that works now (renewed first when it is close to expiring or gone)."""
        now = self._clock()
        if self._cached is not None and self._cached[1] - REFRESH_BEFORE > now:
            return self._cached[0]
        row = await self._read()
        if row is not None and row[1] - REFRESH_BEFORE > now:
            self._cached = row
            return row[0]
        if row is not None and row[1] > now:
            return await self._early(row)
        token = await self._renewed(lambda found: found[1] > self._clock())
        assert token is not None  # a renewal that waits ends with a token (or raises)
        return token

    async def renew(self, stale: str) -> str:
        """A token other than ``stale``, which the provider refused: fetched once for all the
        callers (and instances) that met the refusal together."""
        self._cached = None
        token = await self._renewed(lambda found: found[0] != stale and found[1] > self._clock())
        assert token is not None
        return token

    async def _early(self, row: tuple[str, datetime]) -> str:
        """The token while it still works, renewed now unless another instance is at it (or this
        one tried a moment ago); a failed renewal is logged, and the working token used."""
        now = self._clock()
        if self._early_after is not None and now < self._early_after:
            return row[0]
        self._early_after = now + RETRY_EARLY
        try:
            renewed = await self._renewed(lambda found: found[1] - REFRESH_BEFORE > now, wait=False)
        except Exception as error:  # the provider's or the network's: the old token still works
            log.warning("renewing an access token early failed: %s", type(error).__name__)
            return row[0]
        return renewed if renewed is not None else row[0]

    async def _renewed(
        self, good: Callable[[tuple[str, datetime]], bool], *, wait: bool = True
    ) -> str | None:
        """A token ``good`` accepts: the one another instance just stored, or one fetched under
        the lease. Without ``wait``, None when another instance holds the lease."""
        async with self._lock:
            delay = self._poll
            while True:
                found, leased = await self._claim(good)
                if found is not None:
                    self._cached = found
                    return found[0]
                if leased:
                    return await self._fetch_under_lease()
                if not wait:
                    return None
                await asyncio.sleep(delay)  # the holder is fetching: read again in a moment
                delay = min(delay * 2, 0.5)

    async def _claim(
        self, good: Callable[[tuple[str, datetime]], bool]
    ) -> tuple[tuple[str, datetime] | None, bool]:
        """In one transaction: the stored token if ``good`` accepts it, else whether this
        instance took the lease (the row made first if there is none)."""
        now = self._clock()
        table = _TABLE
        dialect = sqlite if self._db.is_sqlite else postgresql
        async with self._db.transaction() as session:
            await session.exec(
                dialect.insert(table).values(key=self._key, token="").on_conflict_do_nothing()
            )
            found = await self._stored(session)
            if found is not None and good(found):
                return found, False
            # On PostgreSQL a second UPDATE waits for the first's commit, then reads the row
            # again: the lease taken, or a new token stored meanwhile, and it changes nothing.
            # On SQLite writers take turns. Either way one instance wins the lease. Its own
            # lease, left by this instance before a restart, it takes back at once.
            free = or_(
                table.c.lease_until.is_(None),
                table.c.lease_until <= now,
                table.c.lease_owner == self._owner,
            )
            seen = table.c.token == (found[0] if found is not None else "")
            taken = await session.exec(
                update(table)
                .where(table.c.key == self._key, free, seen)
                .values(lease_owner=self._owner, lease_until=now + LEASE)
            )
            return None, (taken.rowcount or 0) == 1

    async def _fetch_under_lease(self) -> str:
        """Fetch a token (no transaction open meanwhile), store it and free the lease; on
        failure the lease is freed and the error raised."""
        try:
            token, expires_in = await self._fetch()
            if not token or len(token) > MAX_TOKEN_CHARS or expires_in <= 0:
                raise ValueError("the provider answered no usable token")
        except BaseException:
            await self._release({})
            raise
        expires_at = self._clock() + timedelta(seconds=expires_in)
        await self._release({"token": token, "expires_at": expires_at})
        self._cached = (token, expires_at)
        return token

    async def _release(self, values: dict[str, object]) -> None:
        """Free this instance's lease, storing ``values`` with it."""
        table = _TABLE
        async with self._db.transaction() as session:
            await session.exec(
                update(table)
                .where(table.c.key == self._key, table.c.lease_owner == self._owner)
                .values(lease_owner=None, lease_until=None, **values)
            )

    async def _read(self) -> tuple[str, datetime] | None:
        """The stored token and its expiry, or None when there is none."""
        async with self._db.reading() as session:
            return await self._stored(session)

    async def _stored(self, session: AsyncSession) -> tuple[str, datetime] | None:
        """The token and expiry ``session`` sees, or None."""
        query = select(ProviderToken.token, ProviderToken.expires_at).where(
            col(ProviderToken.key) == self._key
        )
        row = (await session.exec(query)).first()
        if row is None or not row[0] or row[1] is None:
            return None
        return row[0], row[1]
