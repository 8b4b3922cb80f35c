"""``page`` and ``page_size`` on GET requests (the extension Chicago, Boston, Austin and San
Francisco serve): 1,000 requests (one filed through the app, the rest its copies written in one
transaction, many sharing a requested time) walked page by page in several sizes without a gap
or a repeat, newest first; requests filed through the use case during a walk over a fixed range
move nothing; a bad page or size is the spec's 400."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.open311 import keys
from bot.open311.filing import file_request
from bot.open311.form import Filing
from bot.services.unit.context import ServiceContext
from db.models import Case
from tests.conftest import Clock
from tests.open311.conftest import Client, error_of, open311_client

COUNT = 1000


async def _file_many(ctx: ServiceContext, clock: Clock, count: int) -> list[int]:
    """``count`` requests through the use case POST requests files with, three to a second (so
    many share their requested time): their numbers."""
    key = keys.Key(0, "bulk", ())
    numbers = []
    for index in range(count):
        if index % 3 == 0:
            clock.advance(seconds=1)
        filing = Filing(
            community_id="jzsj-south" if index % 2 else "bgy-north",
            category_id="parcels",
            description=f"快递第{index}件",
            location="172号楼门口",
            account_id=f"acct-{index}",  # one resident each: no resident's limit is reached
        )
        case = await file_request(ctx, filing, key, language="zh")
        assert case.number is not None
        numbers.append(case.number)
    return numbers


async def _copies(client: Client, count: int) -> list[int]:
    """One request filed, and ``count - 1`` copies of its case in one transaction, three to a
    requested second, alternately in bgy-north: all their numbers, oldest first."""
    template_number = await client.file()
    async with client.ctx.db.transaction() as session:
        template = await session.get(Case, template_number)
        assert template is not None
        fields = template.model_dump(exclude={"number"})
        copies = []
        for index in range(1, count):
            at = template.created_at - timedelta(seconds=(count - index) // 3 + 1)
            community = "bgy-north" if index % 2 else template.community_id
            copies.append(Case(**{**fields, "created_at": at, "community_id": community}))
        session.add_all(copies)
        await session.flush()
        numbers = [c.number for c in copies if c.number is not None]
    assert len(numbers) == count - 1
    return [*numbers, template_number]


async def _walk(client: Client, size: int | None, **params: Any) -> list[dict[str, Any]]:
    """Every page from 1 until an empty one; each page full but the last."""
    found: list[dict[str, Any]] = []
    sized = {"page_size": str(size)} if size is not None else {}
    for page in range(1, COUNT + 2):
        status, body = await client.get(
            "requests", api_key=client.key, page=str(page), **sized, **params
        )
        assert status == 200, body
        if not body:
            return found
        assert len(body) <= (size or 50)
        if len(body) < (size or 50):
            status, after = await client.get(
                "requests", api_key=client.key, page=str(page + 1), **sized, **params
            )
            assert (status, after) == (200, [])
            return found + body
        found.extend(body)
    raise AssertionError("the pages never ended")


def _newest_first(found: list[dict[str, Any]]) -> None:
    keys_in_order = [(r["requested_datetime"], int(r["service_request_id"])) for r in found]
    assert keys_in_order == sorted(keys_in_order, reverse=True)


async def test_1000_requests_walked_without_a_gap_or_a_repeat(
    loaded: ServiceContext, clock: Clock
) -> None:
    async with open311_client(loaded, clock, "json", open311_reads_per_minute=10_000) as client:
        filed = await _copies(client, COUNT)
        for size in (None, 7, 500):  # None: the default 50
            found = await _walk(client, size)
            ids = [int(r["service_request_id"]) for r in found]
            assert len(ids) == COUNT, size
            assert sorted(ids) == sorted(filed), size
            _newest_first(found)
        # The default size is 50; page 1 alone is the newest 50; page_size alone is page 1.
        status, first = await client.get("requests", api_key=client.key, page="1")
        assert status == 200
        assert [r["service_request_id"] for r in first] == [str(n) for n in filed[::-1][:50]]
        status, sized = await client.get("requests", api_key=client.key, page_size="10")
        assert (status, sized) == (200, first[:10])
        # Without either, the spec's first 1,000 as before.
        status, unpaged = await client.get("requests", api_key=client.key)
        assert (status, len(unpaged)) == (200, COUNT)
        # A jurisdiction's half, in pages of 7.
        half = await _walk(client, 7, jurisdiction_id="bgy-north")
        assert len(half) == COUNT // 2
        _newest_first(half)


async def test_a_request_filed_during_a_walk_over_a_fixed_range_moves_nothing(
    loaded: ServiceContext, clock: Clock
) -> None:
    filed = await _file_many(loaded, clock, 30)
    until = clock.now.isoformat()
    async with open311_client(loaded, clock, "xml") as client:
        seen: list[str] = []
        for page in range(1, 5):
            status, body = await client.get(
                "requests", api_key=client.key, page=str(page), page_size="10", end_date=until
            )
            assert status == 200
            seen.extend(str(r["service_request_id"]) for r in body)
            clock.advance(seconds=1)
            await client.file(description=f"走访时新报的第{page}件")
        assert seen == [str(n) for n in reversed(filed)]


async def test_bad_pages_and_sizes_are_400(client: Client) -> None:
    await client.file()
    for params in (
        {"page": "0"},
        {"page": "-1"},
        {"page": "abc"},
        {"page": "1.5"},
        {"page": "1000001"},
        {"page": "99999999999999999999"},
        {"page_size": "0"},
        {"page_size": "501"},
        {"page_size": "ten"},
        {"page": "2", "page_size": "5000"},
    ):
        status, body = await client.get("requests", api_key=client.key, **params)
        assert status == 400, params
        code, description = error_of(body)
        assert code == "400"
        named = "page_size" if "page_size" in params else "page"
        assert named in description, (params, description)
    status, body = await client.get("requests", api_key=client.key, page_size="501")
    assert "500" in error_of(body)[1]  # the cap is said
    for params in ({"page": "1000000"}, {"page_size": "500"}, {"page": "", "page_size": ""}):
        status, _ = await client.get("requests", api_key=client.key, **params)
        assert status == 200, params
