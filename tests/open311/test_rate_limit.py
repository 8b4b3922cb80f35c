"""Each key may POST so many times a minute (OPEN311_POSTS_PER_MINUTE); past that the answer is
429 with ``Retry-After`` and nothing is filed. The window is in the database, so two processes
(two engines on one database here) share it."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import text
from sqlmodel import func, select

from bot.channels import BOOK
from bot.open311 import keys
from bot.services.unit.context import ServiceContext
from db.engine import open_database
from db.models import Case
from tests.conftest import Clock
from tests.open311.conftest import error_of, open311_client

VALID = {
    "service_code": "parcels",
    "jurisdiction_id": "jzsj-south",
    "address_string": "172号楼门口",
    "description": "快递堆在门口",
}


async def _cases(ctx: ServiceContext) -> int:
    async with ctx.db.reading() as session:
        return int((await session.exec(select(func.count()).select_from(Case))).one())


async def test_past_the_limit_is_429_with_retry_after(loaded: ServiceContext, clock: Clock) -> None:
    async with open311_client(loaded, clock, "xml", open311_posts_per_minute=3) as client:
        for _ in range(3):
            assert (await client.post(**VALID))[0] == 200
            clock.advance(seconds=10)
        response = await client.http.post(
            client.url("requests"), data={**VALID, "api_key": client.key}
        )
        assert response.status_code == 429
        assert response.headers["retry-after"] == "30"  # the first POST leaves the minute then
        code, description = error_of(client.read(response))
        assert code == "429"
        assert "3" in description
        assert await _cases(loaded) == 3
        # A refused request counts too: the limit is on POSTs, not on cases.
        clock.advance(seconds=31)
        assert (await client.post(**{**VALID, "service_code": "nope"}))[0] == 404
        assert (await client.post(**VALID))[0] == 429
        clock.advance(seconds=10)
        assert (await client.post(**VALID))[0] == 200
        # Another key has its own minute.
        other = await keys.create_key(loaded, name="other", communities=[])
        assert (await client.post(**VALID, api_key=other))[0] == 200


async def test_two_processes_share_one_window(loaded: ServiceContext, clock: Clock) -> None:
    raw = await keys.create_key(loaded, name="shared", communities=[])
    key = await keys.check_key(loaded, raw)
    assert isinstance(key, keys.Key)
    second = await _second(loaded, clock)
    try:
        results = await asyncio.gather(
            *(keys.take_post(ctx, key, per_minute=5) for ctx in [loaded, second] * 6)
        )
    finally:
        await second.db.dispose()
    assert sum(result is None for result in results) == 5
    assert all(result is not None and 0 < result <= 60 for result in results if result is not None)


async def _second(ctx: ServiceContext, clock: Clock) -> ServiceContext:
    """Another engine on the same database (and, on PostgreSQL, the same schema): what a second
    process would have."""
    connect_args: dict[str, Any] = {}
    if not ctx.db.is_sqlite:
        async with ctx.db.reading() as session:
            conn = await session.connection()
            schema = (await conn.execute(text("SELECT current_schema()"))).scalar_one()
        connect_args = {"server_settings": {"search_path": schema}}
    db = open_database(ctx.db.url, connect_args=connect_args)
    return ServiceContext(channels=BOOK, db=db, clock=clock)
