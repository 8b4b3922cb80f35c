"""A name is looked up once, on a bounded pool of its own, and the connection goes to the address
that was checked; a name whose DNS never answers ties up neither the fetch nor the process."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator, Sequence

import httpx
import pytest

from bot.media.fetch import FetchPolicy, Refused, fetch_image
from bot.media.guard import Allowance
from bot.media.resolver import Resolver

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


class FakeDns:
    """A resolver's system call, scripted: each name answers the next of its lists in turn."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def __call__(self, host: str, port: int) -> Sequence[str]:
        self.asked.append(host)
        queue = self.answers[host]
        return queue.pop(0) if len(queue) > 1 else queue[0]


def _serving_png(seen: list[httpx.Request]) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=PNG, headers={"content-type": "image/png"})

    return httpx.MockTransport(answer)


async def test_the_connection_goes_to_the_address_checked_and_keeps_the_name() -> None:
    dns = FakeDns({"images.example": [["93.184.215.14"]]})
    seen: list[httpx.Request] = []
    policy = FetchPolicy(resolver=Resolver(lookup=dns))
    await fetch_image("https://Images.Example./a.png", policy, transport=_serving_png(seen))
    (request,) = seen
    assert request.url.host == "93.184.215.14"  # where the transport connects
    assert request.headers["host"] == "images.example"
    assert request.extensions["sni_hostname"] == "images.example"  # the certificate's name
    assert request.headers["accept-encoding"] == "identity"
    assert dns.asked == ["images.example"]


async def test_a_rebinding_name_is_looked_up_once_per_hop() -> None:
    # Public when checked, loopback when asked again: there is no second asking.
    dns = FakeDns({"rebind.example": [["93.184.215.14"], ["127.0.0.1"]]})
    seen: list[httpx.Request] = []
    policy = FetchPolicy(resolver=Resolver(lookup=dns))
    await fetch_image("http://rebind.example/a.png", policy, transport=_serving_png(seen))
    assert [r.url.host for r in seen] == ["93.184.215.14"]
    assert dns.asked == ["rebind.example"]


@pytest.mark.parametrize(
    "answer",
    [
        ["93.184.215.14", "10.0.0.1"],
        ["2001:4860:4860::8888", "169.254.169.254"],
        ["64:ff9b::a9fe:a9fe"],  # an attacker's AAAA record pointing through NAT64
        ["::ffff:127.0.0.1"],
        ["::a9fe:a9fe"],
        ["2002:a00:1::1"],
        ["fec0::1"],
        ["fe80::1%1"],
    ],
)
async def test_a_name_with_any_refused_address_is_refused(answer: list[str]) -> None:
    policy = FetchPolicy(resolver=Resolver(lookup=FakeDns({"evil.example": [answer]})))
    seen: list[httpx.Request] = []
    with pytest.raises(Refused) as refused:
        await fetch_image("http://evil.example/a.png", policy, transport=_serving_png(seen))
    assert (refused.value.reason, seen) == ("address", [])


async def test_the_operator_may_allow_a_name_or_a_network() -> None:
    dns = FakeDns({"media.internal": [["10.1.2.3"]], "cdn.internal": [["10.9.9.9"]]})
    allowance = Allowance.parse("media.internal., 10.9.0.0/16")
    policy = FetchPolicy(resolver=Resolver(lookup=dns), allowance=allowance)
    seen: list[httpx.Request] = []
    await fetch_image("http://media.internal:8080/a.png", policy, transport=_serving_png(seen))
    await fetch_image("http://cdn.internal/a.png", policy, transport=_serving_png(seen))
    assert [r.url.host for r in seen] == ["10.1.2.3", "10.9.9.9"]


@pytest.fixture
def hanging() -> Iterator[threading.Event]:
    """A DNS that never answers until the test lets it go (then it answers a public address)."""
    release = threading.Event()
    yield release
    release.set()


async def test_a_name_that_never_resolves_is_refused_within_the_lookup_timeout(
    hanging: threading.Event,
) -> None:
    def silent(host: str, port: int) -> Sequence[str]:
        hanging.wait(10)
        return ["93.184.215.14"]

    resolver = Resolver(workers=2, waiting=1, timeout=0.2, lookup=silent)
    started = time.monotonic()
    with pytest.raises(Refused) as refused:
        await fetch_image("http://slow.example/a.png", FetchPolicy(resolver=resolver))
    assert refused.value.reason == "timeout"
    assert time.monotonic() - started < 1.0  # the lookup's bound, not the fetch's 10 s
    resolver.close()


async def test_hostile_names_hold_only_the_pool_of_their_own(hanging: threading.Event) -> None:
    calls: list[str] = []

    def silent(host: str, port: int) -> Sequence[str]:
        calls.append(host)
        hanging.wait(10)
        return ["93.184.215.14"]

    resolver = Resolver(workers=2, waiting=1, timeout=0.3, lookup=silent)
    lookups = [asyncio.create_task(resolver.addresses(f"h{i}.example", 80)) for i in range(3)]
    await asyncio.sleep(0.05)
    assert resolver.pending == 3  # two running, one queued

    # Past workers + waiting a lookup is refused at once, without waiting for a thread.
    started = time.monotonic()
    with pytest.raises(Refused, match="too many"):
        await resolver.addresses("h3.example", 80)
    assert time.monotonic() - started < 0.05

    # The event loop's default executor, which the rest of the process uses, is untouched.
    started = time.monotonic()
    assert await asyncio.get_running_loop().run_in_executor(None, lambda: 42) == 42
    assert time.monotonic() - started < 0.1

    outcomes = await asyncio.gather(*lookups, return_exceptions=True)
    assert all(isinstance(o, Refused) and o.reason == "timeout" for o in outcomes)
    assert sorted(calls) == ["h0.example", "h1.example"]  # the queued one never ran
    assert resolver.pending == 2  # the two threads still wait for their DNS, none more

    hanging.set()  # the DNS answers at last: the threads come back and the pool serves again
    for _ in range(100):
        if resolver.pending == 0:
            break
        await asyncio.sleep(0.01)
    assert resolver.pending == 0
    assert [str(a) for a in await resolver.addresses("late.example", 80)] == ["93.184.215.14"]
    resolver.close()


async def test_the_system_resolver_reads_localhost_from_the_hosts_file() -> None:
    resolver = Resolver(workers=1)
    found = await resolver.addresses("localhost", 80)
    assert found
    assert all(a.is_loopback for a in found)
    resolver.close()


async def test_a_name_that_does_not_exist_is_unreachable() -> None:
    def nxdomain(host: str, port: int) -> Sequence[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    resolver = Resolver(workers=1, lookup=nxdomain)
    with pytest.raises(Refused, match=r"^unreachable"):
        await resolver.addresses("nowhere.example", 80)
    with pytest.raises(Refused, match=r"^unreachable"):
        await Resolver(workers=1, lookup=lambda host, port: []).addresses("empty.example", 80)
    resolver.close()


async def test_an_allowed_ipv6_literal_is_connected_to_as_checked() -> None:
    seen: list[httpx.Request] = []
    policy = FetchPolicy(allowance=Allowance.parse("fd00::/8"), resolver=Resolver(lookup=_no_dns))
    await fetch_image("http://[FD00:0::1]:8080/a.png", policy, transport=_serving_png(seen))
    (request,) = seen
    assert (request.url.host, request.url.port) == ("fd00::1", 8080)
    assert request.headers["host"] == "[fd00::1]:8080"
    assert "sni_hostname" not in request.extensions  # an address is checked as an address


def _no_dns(host: str, port: int) -> Sequence[str]:
    raise AssertionError(f"an address literal was looked up: {host}")
