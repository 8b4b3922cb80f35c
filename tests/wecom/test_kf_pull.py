"""Pulling customer service's stream from the WeCom emulator: page after page to its end; the
cursor moved on only once a page is handled, so a process that dies mid-page reads the page again
and handles none of it twice; one instance pulls a stream at a time; an expired callback Token
does not stop a pull."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlmodel import func, select

from bot.services.unit.context import ServiceContext
from bot.wecom.client import WeComClient
from bot.wecom.kf import stream
from bot.wecom.kf.inbound import KfInbound
from bot.wecom.kf.pull import LEASE, Puller
from bot.wecom.kf.sender import Welcomes
from db.engine import Database
from db.models import InboundReceipt, OutboxMessage
from sandbox.serve import serving
from sandbox.wecom import WeComEmulator

KFID = "wkAJ2GCAAASSm4_FhToWMFea0xAFfd3Q"
USER = "wmAJ2GCAAAme1XQRC-NI-q0_ZM9ukoAw"


class Died(Exception):
    """The process died here (the test's stand-in for a crash mid-page)."""


@dataclass
class Pulling:
    """The emulator on loopback and a client of customer service's app."""

    wecom: WeComEmulator
    client: WeComClient
    ctx: ServiceContext

    def puller(self, owner: str, *, limit: int = 2, dies_after: int | None = None) -> Puller:
        """An instance's puller, handling messages as the channel does (until it dies)."""
        handle = KfInbound(self.ctx, Welcomes())
        handled = 0

        async def handling(raw: dict[str, Any]) -> None:
            nonlocal handled
            if dies_after is not None and handled == dies_after:
                raise Died()
            await handle(raw)
            handled += 1

        return Puller(self.ctx, self.client, handling, owner=owner, kick=lambda: None, limit=limit)


@asynccontextmanager
async def customer_service(db: Database) -> AsyncIterator[tuple[WeComEmulator, WeComClient]]:
    """The WeCom emulator on loopback, and a client of its customer-service app."""
    wecom = WeComEmulator()
    async with serving(wecom.app) as url, httpx.AsyncClient() as http:
        secret, corp = wecom.kf_secret, wecom.corp_id
        yield (
            wecom,
            WeComClient.shared(
                db, api_url=url, corp_id=corp, secret=secret, http=http, owner="test"
            ),
        )


@pytest.fixture
async def pulling(loaded: ServiceContext) -> AsyncIterator[Pulling]:
    async with customer_service(loaded.db) as (wecom, client):
        yield Pulling(wecom, client, loaded)


async def _counts(ctx: ServiceContext) -> tuple[int, int]:
    """(messages handled, answers queued)."""
    async with ctx.db.reading() as session:
        handled = (await session.exec(select(func.count()).select_from(InboundReceipt))).one()
        answers = (await session.exec(select(func.count()).select_from(OutboxMessage))).one()
    return handled, answers


async def test_pages_are_pulled_to_the_end_and_the_cursor_kept(pulling: Pulling) -> None:
    for _ in range(5):
        pulling.wecom.queue_text(KFID, USER, "/help")
    assert await pulling.puller("a").pull(KFID) == 5
    calls = pulling.wecom.sync_calls
    assert [len(c.msgids) for c in calls] == [2, 2, 1]  # page by page, each from the last
    assert [c.cursor for c in calls[1:]] == [c.next_cursor for c in calls[:-1]]
    assert await stream.cursor(pulling.ctx, KFID) == calls[-1].next_cursor
    assert await _counts(pulling.ctx) == (5, 5)


async def test_a_crash_mid_page_reads_it_again_and_handles_nothing_twice(pulling: Pulling) -> None:
    for _ in range(5):
        pulling.wecom.queue_text(KFID, USER, "/help")
    with pytest.raises(Died):
        await pulling.puller("a", dies_after=3).pull(KFID)  # dies on the 2nd page's 2nd message
    assert await _counts(pulling.ctx) == (3, 3)
    first = list(pulling.wecom.sync_calls)
    assert await stream.cursor(pulling.ctx, KFID) == first[0].next_cursor  # past page 1 only
    # Restarted: the lease was let go on the way down; the 2nd page is read again.
    assert await pulling.puller("b").pull(KFID) == 3  # one again (a receipt), two new
    again = pulling.wecom.sync_calls[len(first) :]
    assert again[0].cursor == first[0].next_cursor
    assert again[0].msgids == first[1].msgids
    assert await _counts(pulling.ctx) == (5, 5)  # each handled, and answered, once


async def test_one_instance_pulls_a_stream_at_a_time(pulling: Pulling) -> None:
    ctx = pulling.ctx
    assert await stream.take(ctx, KFID, "a", LEASE)
    assert not await stream.take(ctx, KFID, "b", LEASE)
    assert await stream.take(ctx, KFID, "a", LEASE)  # renewed by its holder
    await stream.release(ctx, KFID, "a")
    assert await stream.take(ctx, KFID, "b", LEASE)
    ctx.clock.advance(seconds=LEASE.total_seconds() + 1)  # type: ignore[attr-defined]
    assert await stream.take(ctx, KFID, "a", LEASE)  # b died holding it: it ran out


async def test_an_expired_callback_token_does_not_stop_the_pull(pulling: Pulling) -> None:
    pulling.wecom.queue_text(KFID, USER, "/help")
    token = pulling.wecom.service.msg_token()
    pulling.wecom.advance(11 * 60)  # a Token is good for 10 minutes
    assert await pulling.puller("a").pull(KFID, token) == 1
    assert [c.errcode for c in pulling.wecom.sync_calls] == [95007, 0]
    assert pulling.wecom.sync_calls[1].token == ""
