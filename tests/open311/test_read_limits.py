"""Open311 reads with limits: every GET is counted against a sliding minute per API key, and
per client address without one (429 with ``Retry-After`` past ``OPEN311_READS_PER_MINUTE``);
the key is taken from the ``X-Api-Key`` header too; and a request id answers the very same —
status, headers that matter, body — whether it is outside the jurisdiction named or does not
exist."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from bot.open311 import keys
from bot.open311.routes import Open311Api
from bot.open311.throttle import SlidingMinutes, address_of
from bot.services.unit.context import ServiceContext
from bot.web import create_web_app
from tests.conftest import Clock
from tests.open311.conftest import Client, error_of, from_xml, open311_client, settings_for

VALID = {
    "service_code": "parcels",
    "jurisdiction_id": "jzsj-south",
    "address_string": "172号楼门口",
    "description": "快递堆在172号楼门口占道",
}


@asynccontextmanager
async def _app(ctx: ServiceContext, **values: Any) -> AsyncIterator[Any]:
    """The Open311 app on ``settings_for(ctx, **values)`` (one process: one set of counts)."""
    api = Open311Api(ctx, settings_for(ctx, **values), kick=lambda: None)
    yield create_web_app(ctx, api.routes())


@asynccontextmanager
async def _from(app: Any, address: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client whose requests come from ``address``."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://wolaiban.test") as http:
        yield http


def _error(response: httpx.Response) -> tuple[str | None, str]:
    body = from_xml(response.content) if response.url.path.endswith(".xml") else response.json()
    return error_of(body)


async def test_reads_per_key_past_the_limit_are_429_with_retry_after(
    loaded: ServiceContext, clock: Clock
) -> None:
    async with open311_client(loaded, clock, "xml", open311_reads_per_minute=3) as client:
        got = []
        for path in ("discovery", "services", "requests"):  # every GET counts
            got.append((await client.get(path, api_key=client.key))[0])
            clock.advance(seconds=10)
        assert got == [200, 200, 200]
        response = await client.http.get(client.url("requests"), params={"api_key": client.key})
        assert response.status_code == 429
        assert response.headers["retry-after"] == "30"  # the first GET leaves the minute then
        code, description = error_of(client.read(response))
        assert code == "429"
        assert "3" in description
        # The same key in the header is the same reader; a HEAD is a read too.
        header = {"X-Api-Key": client.key}
        assert (await client.http.get(client.url("services"), headers=header)).status_code == 429
        assert (await client.http.head(client.url("requests"), headers=header)).status_code == 429
        # Another key, and a reader without one, have minutes of their own.
        other = await keys.create_key(loaded, name="other", communities=[])
        assert (await client.get("services", api_key=other))[0] == 200
        assert (await client.get("services"))[0] == 200
        # A refused GET is not counted: once the first leaves the window, one more goes in.
        clock.advance(seconds=29)
        assert (await client.get("services", api_key=client.key))[0] == 429
        clock.advance(seconds=1)
        assert (await client.get("services", api_key=client.key))[0] == 200
        assert (await client.get("services", api_key=client.key))[0] == 429


async def test_reads_without_a_key_are_counted_per_address(
    loaded: ServiceContext, clock: Clock
) -> None:
    key = await keys.create_key(loaded, name="city", communities=[])
    async with _app(loaded, open311_reads_per_minute=2, open311_public_read=True) as app:
        async with _from(app, "203.0.113.7") as first:
            assert (await first.get("/open311/v2/requests.json")).status_code == 200
            clock.advance(seconds=5.5)
            assert (await first.get("/open311/v2/services.xml")).status_code == 200
            response = await first.get("/open311/v2/requests.json")
            assert response.status_code == 429
            assert response.headers["retry-after"] == "55"
            code, description = _error(response)
            assert code == "429"
            assert "2" in description
            # A wrong key is no way around it: it counts against the address, then is refused.
            wrong = await first.get("/open311/v2/services.json", params={"api_key": "o311_x"})
            assert wrong.status_code == 429
            # The same address with a valid key is counted as the key.
            keyed = await first.get("/open311/v2/requests.json", headers={"X-Api-Key": key})
            assert keyed.status_code == 200
        async with _from(app, "198.51.100.9") as second:
            assert (await second.get("/open311/v2/requests.json")).status_code == 200
            wrong = await second.get("/open311/v2/services.json", params={"api_key": "o311_x"})
            assert wrong.status_code == 403
            assert (await second.get("/open311/v2/services.json")).status_code == 429
        # IPv6: one subscriber's /64 is one client; IPv4 written inside IPv6 is that IPv4.
        async with _from(app, "2001:db8:1:2::10") as one, _from(app, "2001:db8:1:2::99") as two:
            assert (await one.get("/open311/v2/discovery.json")).status_code == 200
            assert (await two.get("/open311/v2/discovery.json")).status_code == 200
            assert (await one.get("/open311/v2/discovery.json")).status_code == 429
        async with _from(app, "::ffff:203.0.113.7") as mapped:
            assert (await mapped.get("/open311/v2/discovery.json")).status_code == 429
        clock.advance(seconds=60)
        async with _from(app, "203.0.113.7") as first:
            assert (await first.get("/open311/v2/requests.json")).status_code == 200


async def test_a_key_in_the_header_reads(client: Client) -> None:
    number = await client.file()
    response = await client.http.get(
        client.url(f"requests/{number}"), headers={"X-Api-Key": client.key}
    )
    assert response.status_code == 200
    (found,) = client.read(response)
    assert str(found["service_request_id"]) == str(number)
    wrong = await client.http.get(client.url("requests"), headers={"X-Api-Key": "o311_x"})
    assert wrong.status_code == 403
    assert error_of(client.read(wrong))[0] == "403"


def _same(response: httpx.Response) -> tuple[int, str | None, str | None, bytes]:
    return (
        response.status_code,
        response.headers.get("content-type"),
        response.headers.get("retry-after"),
        response.content,
    )


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_outside_the_jurisdiction_answers_as_does_not_exist(
    loaded: ServiceContext, clock: Clock, fmt: str
) -> None:
    """For one number, asked before its case exists and after: the same answer, byte for byte,
    for every reader naming another community's ``jurisdiction_id`` — without a key, with a
    key of that community (in the query or the header), with a key of any."""
    async with open311_client(loaded, clock, fmt) as client:
        first = await client.file()
        limited = await keys.create_key(loaded, name="bgy-app", communities=["bgy-north"])
        there = {"jurisdiction_id": "bgy-north"}
        readers: list[dict[str, Any]] = [
            {"params": there},
            {"params": {"api_key": limited, **there}},
            {"params": there, "headers": {"X-Api-Key": limited}},
            {"params": {"api_key": client.key, **there}},
        ]
        url = client.url(f"requests/{first + 1}")
        missing = [_same(await client.http.get(url, **reader)) for reader in readers]
        assert [m[0] for m in missing] == [404, 404, 404, 404]
        assert await client.file() == first + 1  # now it exists: open, in jzsj-south
        mine = await client.http.get(url, params={"api_key": client.key})
        assert mine.status_code == 200
        present = [_same(await client.http.get(url, **reader)) for reader in readers]
        assert present == missing
        code, description = error_of(client.read(await client.http.get(url, params=there)))
        assert code == "404"
        assert str(first + 1) in description


def test_the_sliding_minute_counts_whole_seconds_and_says_how_long_to_wait() -> None:
    minutes = SlidingMinutes()
    assert [minutes.take("a", t, 3) for t in (100.2, 110.0, 130.7)] == [None, None, None]
    assert minutes.take("a", 131.0, 3) == pytest.approx(29.0)  # second 100 leaves at 160
    assert minutes.take("a", 159.9, 3) == pytest.approx(0.1)
    assert minutes.take("a", 160.0, 3) is None
    assert minutes.take("a", 160.5, 3) == pytest.approx(9.5)  # now second 110 is the oldest
    assert minutes.take("a", 1000.0, 3) is None  # long after: a fresh minute
    assert minutes.take("a", 999.0, 3) is None  # a clock stepping back counts as now
    assert minutes.take("a", 1000.0, 3) is None
    assert minutes.take("a", 1000.0, 3) is not None


def test_memory_is_bounded_the_least_recently_seen_go_first() -> None:
    minutes = SlidingMinutes(capacity=100)
    for index in range(1000):
        assert minutes.take(f"client-{index}", 50.0, 1) is None
    assert len(minutes) == 100
    assert minutes.take("client-999", 51.0, 1) is not None  # still known: still limited
    assert minutes.take("client-0", 51.0, 1) is None  # forgotten: starts afresh


@pytest.mark.parametrize(
    ("host", "client"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        ("testclient", "testclient"),
        (None, "unknown"),
    ],
)
def test_what_an_address_counts_as(host: str | None, client: str) -> None:
    assert address_of(host) == client
