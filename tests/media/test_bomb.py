"""A compressed body is never unpacked: a 200 KB gzip body that would be 200 MB is refused with
the memory flat, measured while the fetch runs against a server of our own on loopback."""

from __future__ import annotations

import functools
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from bot.media.fetch import FetchPolicy, Refused, fetch_image
from bot.media.guard import Allowance
from sandbox.serve import serving
from tests.media.unsized_image import unsized_jpeg

JPEG = b"\xff\xd8\xff\xe0" + b"\1" * 64
UNPACKED = 200 * 1024 * 1024
MiB = 1024 * 1024
asked_encoding: list[str | None] = []


@functools.cache
def bomb() -> bytes:
    """A JPEG's first bytes and then zeros, 200 MiB in all, gzipped to about 200 KB."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: a gzip header and trailer
    parts = [packer.compress(JPEG)]
    zeros = bytes(MiB)
    parts += [packer.compress(zeros) for _ in range(UNPACKED // MiB)]
    return b"".join([*parts, packer.flush()])


async def _bomb(request: Request) -> Response:
    asked_encoding.append(request.headers.get("accept-encoding"))
    headers = {"content-encoding": "gzip"}  # sent whatever the client asked for
    return Response(bomb(), media_type="image/jpeg", headers=headers)


async def _chunked_bomb(request: Request) -> Response:
    asked_encoding.append(request.headers.get("accept-encoding"))

    async def chunks() -> AsyncIterator[bytes]:
        data = bomb()
        for start in range(0, len(data), 16_384):
            yield data[start : start + 16_384]

    headers = {"content-encoding": "gzip"}
    return StreamingResponse(chunks(), media_type="image/jpeg", headers=headers)


async def _huge(request: Request) -> Response:
    return unsized_jpeg(JPEG, blocks=50 * 16)  # 50 MiB, no Content-Length


async def _small(request: Request) -> Response:
    return Response(JPEG, media_type="image/jpeg")


app = Starlette(
    routes=[
        Route("/small.jpg", _small),
        Route("/bomb.jpg", _bomb),
        Route("/chunked-bomb.jpg", _chunked_bomb),
        Route("/huge.jpg", _huge),
    ]
)
POLICY = FetchPolicy(allowance=Allowance.parse("127.0.0.1"), max_bytes=5_000_000, timeout=30)


@pytest.fixture
async def base() -> AsyncIterator[str]:
    bomb()  # made before any measuring starts
    async with serving(app) as url:
        # One fetch first: what the first fetch of a process loads once (the CA bundle, lazy
        # imports) is not what a bomb costs.
        await fetch_image(f"{url}/small.jpg", POLICY)
        asked_encoding.clear()
        yield url


async def peak_while(work: Callable[[], Awaitable[object]]) -> tuple[int, BaseException | None]:
    """The most memory Python held above the start while ``work`` ran, and what it raised."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    start = tracemalloc.get_traced_memory()[0]
    raised: BaseException | None = None
    try:
        await work()
    except Exception as error:
        raised = error
    peak = tracemalloc.get_traced_memory()[1] - start
    tracemalloc.stop()
    return peak, raised


@pytest.mark.parametrize("path", ["/bomb.jpg", "/chunked-bomb.jpg"])
async def test_a_gzip_bomb_is_refused_and_the_memory_stays_flat(base: str, path: str) -> None:
    assert len(bomb()) < 300_000  # the bomb is small as sent ...
    assert zlib.decompressobj(31).decompress(bomb(), 64)[:4] == JPEG[:4]  # ... and a JPEG inside

    peak, raised = await peak_while(lambda: fetch_image(f"{base}{path}", POLICY))

    assert isinstance(raised, Refused)
    assert raised.reason == "encoding"
    assert asked_encoding == ["identity"]  # we asked for nothing compressed
    # Before, the same bomb cost a peak of 142 MiB (decoded chunk by chunk up to the 5 MB cap).
    assert peak < MiB, f"peak {peak / MiB:.2f} MiB while refusing a gzip bomb"


async def test_a_plain_body_past_the_cap_is_cut_off_with_the_memory_near_the_cap(base: str) -> None:
    peak, raised = await peak_while(lambda: fetch_image(f"{base}/huge.jpg", POLICY))
    assert isinstance(raised, Refused)
    assert raised.reason == "too_large"
    assert peak < POLICY.max_bytes + MiB, f"peak {peak / MiB:.2f} MiB for a 5 MB cap"
