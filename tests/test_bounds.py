"""The bounds on a tiny app: a Content-Length over the cap refused unread, a chunked body refused
as it crosses the cap with nothing more pulled, a slow body cut off, the exact cap taken, the cap
chosen by the route, URL and headers bounded; served by uvicorn with our connections, the refusal
read by a client still sending and headers trickled in cut off; and who may read ``/metrics``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import pytest
import uvicorn
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bot.bounds import Bounded, Bounds
from bot.config import Settings
from bot.connections import LINGER_SECONDS, bounded_h11
from bot.services.unit.context import ServiceContext
from bot.web import create_web_app

CAP = 4096
CHUNK = 1000
BOUNDS = Bounds(
    webhook_max_bytes=CAP,
    console_max_bytes=2 * CAP,
    open311_max_bytes=3 * CAP,
    body_seconds=0.5,
    other_max_bytes=CAP // 4,
)


@dataclass
class Seen:
    """What the app behind the bounds was given."""

    calls: int = 0
    bodies: list[int] = field(default_factory=list)


def tiny_app(seen: Seen) -> Starlette:
    """Routes that read the body (one of them swallowing every error, as careless code does)
    and one that answers without reading it."""

    async def read(request: Request) -> Response:
        seen.calls += 1
        body = await request.body()
        seen.bodies.append(len(body))
        return PlainTextResponse(f"read {len(body)}")

    async def careless(request: Request) -> Response:
        seen.calls += 1
        try:
            await request.body()
        except Exception:  # the point: an app that answers whatever happens
            return PlainTextResponse("bad form", status_code=400)
        return PlainTextResponse("ok")

    async def refuse(request: Request) -> Response:
        seen.calls += 1
        return Response(status_code=403)

    return Starlette(
        routes=[
            Route("/twilio/sms", read, methods=["POST"]),
            Route("/twilio/status", careless, methods=["POST"]),
            Route("/telegram/webhook", refuse, methods=["POST"]),
            Route("/console/cases/1/act", read, methods=["POST"]),
        ],
        middleware=[Middleware(Bounded, bounds=BOUNDS)],
    )


@pytest.fixture
def seen() -> Seen:
    return Seen()


@pytest.fixture
async def client(seen: Seen) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=tiny_app(seen))
    async with httpx.AsyncClient(transport=transport, base_url="http://bounds") as http:
        yield http


class Sender:
    """A body sent in chunks, counting how many the server pulled."""

    def __init__(self, chunks: int, *, size: int = CHUNK, pause: float = 0.0) -> None:
        self.chunks, self.size, self.pause = chunks, size, pause
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.chunks):
            if self.pause:
                await asyncio.sleep(self.pause)
            self.pulled += 1
            yield b"x" * self.size


async def test_a_body_of_exactly_the_cap_is_read_whole(
    client: httpx.AsyncClient, seen: Seen
) -> None:
    answer = await client.post("/twilio/sms", content=b"a" * CAP)
    assert (answer.status_code, answer.text) == (200, f"read {CAP}")
    chunked = await client.post("/twilio/sms", content=Sender(4, size=CAP // 4))
    assert (chunked.status_code, chunked.text) == (200, f"read {CAP}")
    assert "close" not in answer.headers.get("connection", "")  # kept alive: all was read


async def test_a_declared_length_over_the_cap_is_refused_unread(
    client: httpx.AsyncClient, seen: Seen
) -> None:
    sender = Sender(CAP // CHUNK + 1)
    length = str(sender.chunks * CHUNK)
    answer = await client.post("/twilio/sms", content=sender, headers={"Content-Length": length})
    assert answer.status_code == 413
    assert f"over {CAP} bytes" in answer.text
    assert answer.headers["connection"] == "close"
    assert (seen.calls, sender.pulled) == (0, 0)  # the app never ran, no byte was pulled
    one_more = await client.post("/twilio/sms", content=b"a" * (CAP + 1))
    assert one_more.status_code == 413


async def test_a_chunked_body_is_refused_as_it_crosses_the_cap(
    client: httpx.AsyncClient, seen: Seen
) -> None:
    sender = Sender(1000)  # a megabyte, with no length announced
    answer = await client.post("/twilio/sms", content=sender)
    assert answer.status_code == 413
    assert answer.headers["connection"] == "close"
    assert sender.pulled == CAP // CHUNK + 1  # the chunk that crossed it, and no more
    assert seen.bodies == []  # the app never got the body


async def test_the_refusal_stands_whatever_the_app_makes_of_it(
    client: httpx.AsyncClient, seen: Seen
) -> None:
    sender = Sender(1000)
    answer = await client.post("/twilio/status", content=sender)
    assert answer.status_code == 413  # not the app's own 400
    assert sender.pulled == CAP // CHUNK + 1


async def test_a_slow_body_is_cut_off(client: httpx.AsyncClient, seen: Seen) -> None:
    sender = Sender(3, size=10, pause=0.4)  # 1.2 s for 30 bytes; 0.5 s allowed
    started = time.monotonic()
    answer = await client.post("/twilio/sms", content=sender)
    took = time.monotonic() - started
    assert answer.status_code == 408
    assert answer.headers["connection"] == "close"
    assert seen.bodies == []
    assert 0.45 < took < 1.0, took
    assert sender.pulled < 3


async def test_a_body_in_time_is_taken(client: httpx.AsyncClient) -> None:
    answer = await client.post("/twilio/sms", content=Sender(3, size=10, pause=0.05))
    assert (answer.status_code, answer.text) == (200, "read 30")


async def test_an_answer_before_the_body_is_read_closes_the_connection(
    client: httpx.AsyncClient, seen: Seen
) -> None:
    sender = Sender(3)
    answer = await client.post("/telegram/webhook", content=sender)
    assert answer.status_code == 403
    assert answer.headers["connection"] == "close"  # the rest is never read
    assert sender.pulled == 0


async def test_each_route_has_its_cap(client: httpx.AsyncClient) -> None:
    # The console takes twice the webhooks' cap here; an unknown path a quarter of it.
    assert (await client.post("/console/cases/1/act", content=b"a" * (2 * CAP))).status_code == 200
    assert (
        await client.post("/console/cases/1/act", content=b"a" * (2 * CAP + 1))
    ).status_code == 413
    assert (await client.post("/twilio/sms", content=b"a" * (2 * CAP))).status_code == 413
    assert (await client.post("/nowhere", content=b"a" * (CAP // 4 + 1))).status_code == 413
    assert (await client.post("/nowhere", content=b"a" * (CAP // 4))).status_code == 404


@pytest.mark.parametrize(
    ("path", "cap"),
    [
        ("/telegram/webhook", CAP),
        ("/twilio/sms", CAP),
        ("/twilio/status", CAP),
        ("/console", 2 * CAP),
        ("/console/login/abc", 2 * CAP),
        ("/open311/v2/requests.json", 3 * CAP),
        ("/consoles", CAP // 4),
        ("/open3110/v2/requests.json", CAP // 4),
        ("/metrics", CAP // 4),
        ("/", CAP // 4),
    ],
)
def test_the_cap_goes_by_the_first_segment(path: str, cap: int) -> None:
    assert BOUNDS.cap(path) == cap


def test_the_settings_choose_the_caps() -> None:
    settings = Settings(
        _env_file=None,
        webhook_max_bytes=2048,
        console_max_bytes=3072,
        open311_max_bytes=9000,
        http_body_seconds=3,
    )
    bounds = Bounds.of(settings)
    assert [bounds.cap(p) for p in ("/twilio/sms", "/console", "/open311/v2/x")] == [
        2048,
        3072,
        9000,
    ]
    assert bounds.body_seconds == 3
    defaults = Bounds.defaults()
    assert (defaults.webhook_max_bytes, defaults.open311_max_bytes) == (65_536, 6_000_000)


async def test_a_long_url_or_long_headers_are_refused_before_the_app(
    client: httpx.AsyncClient, seen: Seen
) -> None:
    assert (await client.post("/twilio/sms?" + "q" * 16_384, content=b"")).status_code == 414
    padded = {f"X-Pad-{i}": "p" * 100 for i in range(200)}  # 20 KB of headers
    assert (await client.post("/twilio/sms", content=b"", headers=padded)).status_code == 431
    assert seen.calls == 0
    ids = ",".join(str(n) for n in range(10**9, 10**9 + 1000))  # Open311's 1,000 request ids
    assert (await client.post(f"/twilio/sms?ids={ids}", content=b"")).status_code == 200


# ---- served by uvicorn, on our connections ------------------------------------------------------


@asynccontextmanager
async def served(seen: Seen, header_seconds: float) -> AsyncIterator[int]:
    """The tiny app under uvicorn with ``bounded_h11``; its port."""
    config = uvicorn.Config(
        tiny_app(seen),
        port=0,
        log_level="warning",
        lifespan="off",
        http=bounded_h11(header_seconds),
        ws="none",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn's server has no event to wait on
        await asyncio.sleep(0.01)
    try:
        yield int(server.servers[0].sockets[0].getsockname()[1])
    finally:
        server.should_exit = True
        await task


async def test_a_client_that_sends_all_before_reading_still_reads_the_413(seen: Seen) -> None:
    # Closed at once, the socket would answer the unread rest with a reset that destroys the
    # 413 before such a client (httpx, requests) reads it.
    async with served(seen, 5.0) as port, httpx.AsyncClient() as http:
        for _ in range(3):
            answer = await http.post(f"http://127.0.0.1:{port}/twilio/sms", content=Sender(600))
            assert answer.status_code == 413
            declared = await http.post(
                f"http://127.0.0.1:{port}/twilio/sms", content=b"x" * (CAP + 600_000)
            )
            assert declared.status_code == 413
        kept = [await http.post(f"http://127.0.0.1:{port}/twilio/sms", content=b"ok") for _ in "ab"]
        assert [k.text for k in kept] == ["read 2", "read 2"]  # and keep-alive still works


async def test_a_client_that_never_stops_sending_is_cut_off(seen: Seen) -> None:
    # After the 413 the server drops what still comes for a moment, unread, then closes: a
    # sender that does not listen is not read from for ever.
    size = 64 * CHUNK
    block = b"%x\r\n" % size + b"y" * size + b"\r\n"
    async with served(seen, 5.0) as port:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /twilio/sms HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        started = time.monotonic()
        sent, cut = await _flood(writer, block, seconds=10)
        took = time.monotonic() - started
        writer.close()
    assert cut
    assert took < LINGER_SECONDS + 1.5, took
    assert sent < 64 * 1024 * 1024, sent  # the cap, the lingering's allowance, the buffers
    assert seen.bodies == []


async def _flood(writer: asyncio.StreamWriter, block: bytes, *, seconds: float) -> tuple[int, bool]:
    """Write ``block`` over and over for ``seconds``, never reading: the bytes written, and
    whether the server cut the connection."""
    started, sent = time.monotonic(), 0
    try:
        while time.monotonic() - started < seconds:
            writer.write(block)
            await asyncio.wait_for(writer.drain(), seconds)
            sent += len(block)
    except ConnectionError:
        return sent, True
    return sent, False


async def _raw(port: int, pieces: list[bytes], every: float) -> tuple[bytes, float]:
    """Send ``pieces`` one every ``every`` seconds (while the server lets us); what came back
    and when the connection ended."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    answer = asyncio.create_task(reader.read())
    for piece in pieces:
        if answer.done():
            break
        writer.write(piece)
        await asyncio.sleep(every)
    got = await asyncio.wait_for(answer, 5)
    writer.close()
    return got, time.monotonic() - started


async def test_headers_trickled_in_are_cut_off(seen: Seen) -> None:
    async with served(seen, 0.5) as port:
        head = b"POST /twilio/sms HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"s" * 40
        got, took = await _raw(port, [head[i : i + 1] for i in range(len(head))], 0.05)
        assert got.startswith(b"HTTP/1.1 408 ")
        assert 0.5 <= took < 1.2, took
        silent, took = await _raw(port, [], 0)  # connected, and nothing sent
        assert silent == b""  # just closed
        assert 0.5 <= took < 1.2, took
    assert seen.calls == 0


# ---- who may read /metrics ----------------------------------------------------------------------


async def _metrics(
    ctx: ServiceContext, client: str, token: str | None = None, **headers: str
) -> httpx.Response:
    settings = Settings(
        _env_file=None,
        metrics_token=SecretStr(token) if token else None,
    )
    app = create_web_app(ctx, settings=settings)
    transport = httpx.ASGITransport(app=app, client=(client, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://wolaiban") as http:
        return await http.get("/metrics", headers=headers)


async def test_metrics_answer_this_host_only(loaded: ServiceContext) -> None:
    assert (await _metrics(loaded, "127.0.0.1")).status_code == 200
    assert (await _metrics(loaded, "::1")).status_code == 200
    assert (await _metrics(loaded, "::ffff:127.0.0.1")).status_code == 200
    assert (await _metrics(loaded, "203.0.113.7")).status_code == 403
    assert (await _metrics(loaded, "10.0.0.5")).status_code == 403
    # a proxy on this host forwarding someone else's request
    forwarded = await _metrics(loaded, "127.0.0.1", **{"X-Forwarded-For": "203.0.113.7"})
    assert forwarded.status_code == 403
    # health and readiness stay open to all
    app = create_web_app(loaded, settings=Settings(_env_file=None))
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://wolaiban") as http:
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/readyz")).status_code == 200


async def test_with_a_token_metrics_need_it_from_anyone(loaded: ServiceContext) -> None:
    token = "metrics-token-0123456789"
    for client in ("127.0.0.1", "203.0.113.7"):
        missing = await _metrics(loaded, client, token)
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == "Bearer"
        wrong = await _metrics(loaded, client, token, Authorization=f"Bearer {token}x")
        assert wrong.status_code == 401
        right = await _metrics(loaded, client, token, Authorization=f"Bearer {token}")
        assert right.status_code == 200
        assert "wolaiban_cases" in right.text
