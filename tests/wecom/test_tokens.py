"""The access token shared through the database (on both backends): fetched once however many
instances ask at once, read by the others, renewed before it expires and once when refused, and
never lost to a failed fetch or an instance that died holding the lease."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlmodel import select

from bot.wecom.tokens import LEASE, REFRESH_BEFORE, TokenStore
from db.engine import Database
from db.models.providers import ProviderToken
from tests.conftest import Clock

KEY = "wecom:ww-test:0123456789abcdef"


class Provider:
    """The token endpoint: a new token each fetch, slow enough for callers to overlap."""

    def __init__(self, *, delay: float = 0.05, lifetime: int = 7200) -> None:
        self.fetches = 0
        self.failing = False
        self.delay, self.lifetime = delay, lifetime

    async def fetch(self) -> tuple[str, int]:
        self.fetches += 1
        await asyncio.sleep(self.delay)
        if self.failing:
            raise ConnectionError("the provider is unreachable")
        return f"token-{self.fetches}", self.lifetime


def _instances(db: Database, provider: Provider, clock: Clock, count: int) -> list[TokenStore]:
    return [
        TokenStore(db, KEY, provider.fetch, owner=f"instance-{n}", clock=clock, poll=0.01)
        for n in range(count)
    ]


async def _row(db: Database) -> ProviderToken:
    async with db.reading() as session:
        return (await session.exec(select(ProviderToken))).one()


async def _hold_lease(db: Database, owner: str, clock: Clock) -> None:
    async with db.transaction() as session:
        row = await session.get(ProviderToken, KEY)
        assert row is not None
        row.lease_owner, row.lease_until = owner, clock.now + LEASE


async def test_instances_share_one_fetch_and_renew_once_before_expiry(
    db: Database, clock: Clock
) -> None:
    provider = Provider()
    stores = _instances(db, provider, clock, 3)
    tokens = await asyncio.gather(*(store.token() for store in stores for _ in range(3)))
    assert set(tokens) == {"token-1"}
    assert provider.fetches == 1
    row = await _row(db)
    assert row.token == "token-1"
    assert row.lease_owner is None
    assert row.expires_at == clock.now + timedelta(seconds=7200)
    # A fourth instance started later reads it without fetching.
    (late,) = _instances(db, provider, clock, 1)
    assert await late.token() == "token-1"
    assert provider.fetches == 1
    # Close to its expiry it is renewed, once; whoever lost the lease went on with the old
    # token, which still works for minutes.
    clock.advance(seconds=7200 - REFRESH_BEFORE.total_seconds() + 1)
    renewed = await asyncio.gather(*(store.token() for store in stores))
    assert "token-2" in renewed
    assert set(renewed) <= {"token-1", "token-2"}
    assert provider.fetches == 2
    assert [await store.token() for store in (*stores, late)] == ["token-2"] * 4


async def test_a_refused_token_is_renewed_once_even_past_a_dead_instances_lease(
    db: Database, clock: Clock
) -> None:
    provider = Provider()
    stores = _instances(db, provider, clock, 3)
    assert await stores[0].token() == "token-1"
    renewed = await asyncio.gather(*(store.renew("token-1") for store in stores))
    assert renewed == ["token-2"] * 3
    assert provider.fetches == 2
    # A caller that met the refusal late, after the renewal, gets the new token: no new fetch.
    assert await stores[1].renew("token-1") == "token-2"
    assert provider.fetches == 2
    await _hold_lease(db, "dead", clock)  # an instance died fetching, the lease held
    waiting = asyncio.create_task(stores[2].renew("token-2"))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    assert provider.fetches == 2
    clock.advance(seconds=LEASE.total_seconds())
    assert await asyncio.wait_for(waiting, 5) == "token-3"
    # An instance restarted under its old name takes its own lease back without waiting.
    await _hold_lease(db, "instance-0", clock)
    (restarted,) = _instances(db, provider, clock, 1)
    assert await asyncio.wait_for(restarted.renew("token-3"), 1) == "token-4"


async def test_a_failed_fetch_loses_nothing_and_keeps_a_working_token(
    db: Database, clock: Clock
) -> None:
    provider = Provider(delay=0)
    provider.failing = True
    first, second = _instances(db, provider, clock, 2)
    with pytest.raises(ConnectionError):
        await first.token()
    assert (await _row(db)).lease_owner is None  # the lease freed: the next call fetches
    provider.failing = False
    assert await second.token() == "token-2"
    clock.advance(seconds=7200 - 60)
    provider.failing = True
    assert await second.token() == "token-2"  # renewing failed; the token works another minute
    assert await second.token() == "token-2"
    assert provider.fetches == 3  # and the early renewal is not retried at once
    provider.failing = False
    clock.advance(seconds=120)  # now expired: a caller waits for a new one
    assert await second.token() == "token-4"
