"""A POST's key is checked before its form is read: from the ``X-Api-Key`` header or the query
before a byte of the body, else the moment the form's ``api_key`` arrives. A request without a
valid key is refused with 403 having read at most a few hundred KB of whatever it sends — the
client's own body generator counts what the server took — and the process's memory does not
grow with it (measured with tracemalloc)."""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlmodel import func, select

from bot.open311.routes import Open311Api
from bot.services.unit.context import ServiceContext
from bot.web import create_web_app
from db.models import Case
from sandbox.serve import serving
from tests.conftest import Clock
from tests.open311.conftest import error_of, open311_client, settings_for

VALID = {
    "service_code": "parcels",
    "jurisdiction_id": "jzsj-south",
    "address_string": "172号楼门口",
    "description": "快递堆在172号楼门口占道",
}
BOUNDARY = "wolaiban-flood"
CHUNK = b"A" * 65_536  # one object, sent again and again: the client allocates nothing per chunk
FIELD = 1_000_000  # each flood field: under Starlette's default 1 MB part limit
FIELDS = 150  # 150 MB in all, as in the issue
FLOOD = FIELDS * FIELD
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
ENCODED = "application/x-www-form-urlencoded"


class Flood:
    """A huge form body, streamed; ``sent`` counts the bytes the server pulled from it."""

    def __init__(self, kind: str, first: dict[str, str] | None = None) -> None:
        self.kind, self.first, self.sent = kind, first or {}, 0

    def pieces(self) -> Iterator[bytes]:
        """The body's bytes, in pieces (the first fields, then 150 fields of 1 MB)."""
        if self.kind == ENCODED:
            for name, value in self.first.items():
                yield f"{name}={value}&".encode()
            for index in range(FIELDS):
                yield f"{'&' if index else ''}f{index}=".encode()
                yield from [CHUNK] * (FIELD // len(CHUNK))
            return
        for name, value in self.first.items():
            yield _part(name, value.encode())
        for index in range(FIELDS):
            yield _part(f"f{index}", b"")[: -len(b"\r\n")]  # the head: its data follows
            yield from [CHUNK] * (FIELD // len(CHUNK))
            yield b"\r\n"
        yield f"--{BOUNDARY}--\r\n".encode()

    async def body(self) -> AsyncIterator[bytes]:
        """The body as an HTTP client streams it (chunked: no length to refuse it by)."""
        for piece in self.pieces():
            self.sent += len(piece)
            yield piece


def _part(name: str, value: bytes) -> bytes:
    head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
    return head.encode() + value + b"\r\n"


def _multipart(form: dict[str, str]) -> bytes:
    return b"".join(_part(k, v.encode()) for k, v in form.items()) + f"--{BOUNDARY}--\r\n".encode()


async def _cases(ctx: ServiceContext) -> int:
    async with ctx.db.reading() as session:
        return int((await session.exec(select(func.count()).select_from(Case))).one())


FLOODS = [
    pytest.param(MULTIPART, {}, "缺少 api_key", id="multipart without a key"),
    pytest.param(ENCODED, {}, "缺少 api_key", id="form-encoded without a key"),
    pytest.param(MULTIPART, {"api_key": "o311_guess"}, "api_key 无效", id="multipart, wrong key"),
    pytest.param(ENCODED, {"api_key": "o311_guess"}, "api_key 无效", id="form-encoded, wrong key"),
]


@pytest.mark.parametrize(("kind", "first", "reason"), FLOODS)
async def test_a_keyless_flood_is_403_having_read_little_and_kept_less(
    loaded: ServiceContext, clock: Clock, kind: str, first: dict[str, str], reason: str
) -> None:
    async with open311_client(loaded, clock, "json") as client:
        await client.post(**VALID, api_key="warm-up")  # the first request's imports and caches
        flood = Flood(kind, first)
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            response = await client.http.post(
                client.url("requests"), content=flood.body(), headers={"Content-Type": kind}
            )
            peak = tracemalloc.get_traced_memory()[1] - before
        finally:
            tracemalloc.stop()
    assert response.status_code == 403
    code, description = error_of(response.json())
    assert code == "403"
    assert reason in description
    assert flood.sent < 400_000, flood.sent  # of 150 MB: the body stopped at its first field
    assert peak < 2_000_000, peak  # the 150 MB never were in memory
    assert await _cases(loaded) == 0


async def test_a_flood_is_refused_before_it_is_sent_by_the_running_server(
    loaded: ServiceContext, clock: Clock
) -> None:
    """Over a real socket to uvicorn (and the body bounds' middleware): the 403 arrives while
    the client has sent well under 1% of its 150 MB."""
    api = Open311Api(loaded, settings_for(loaded), kick=lambda: None)
    app = create_web_app(loaded, api.routes())
    async with serving(app) as base:
        port = int(base.rsplit(":", 1)[1])
        sent, answer = await _send_until_answered(port, Flood(MULTIPART))
    assert answer.startswith(b"HTTP/1.1 403"), answer[:200]
    assert b"api_key" in answer
    assert sent < 4_000_000, sent  # what the socket buffers took besides the server's 256 KiB


async def _send_until_answered(port: int, flood: Flood) -> tuple[int, bytes]:
    """Send ``flood`` chunk by chunk (a pause after each for an answer); the bytes sent when
    the answer came, and the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (
        "POST /open311/v2/requests.json HTTP/1.1\r\nHost: wolaiban.test\r\n"
        f"Content-Type: {MULTIPART}\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    writer.write(head.encode())
    answered = asyncio.create_task(reader.read(65_536))
    sent = 0
    try:
        for piece in flood.pieces():
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            sent += len(piece)
            await asyncio.wait_for(writer.drain(), timeout=5)
            done, _ = await asyncio.wait({answered}, timeout=0.005)
            if done:
                break
    except (ConnectionError, TimeoutError):
        pass  # the server answered and closed: the rest is not wanted
    answer = await asyncio.wait_for(answered, timeout=10)
    writer.close()
    return sent, answer


async def test_a_key_in_the_header_is_checked_before_the_body(
    loaded: ServiceContext, clock: Clock
) -> None:
    async with open311_client(loaded, clock, "xml") as client:
        flood = Flood(MULTIPART)
        response = await client.http.post(
            client.url("requests"),
            content=flood.body(),
            headers={"Content-Type": MULTIPART, "X-Api-Key": "o311_guess"},
        )
        assert response.status_code == 403
        assert error_of(client.read(response))[0] == "403"
        assert flood.sent == 0  # not a byte of the body was read
        # A valid key in the header files with no api_key in the form, in either encoding.
        for content, kind in ((_multipart(VALID), MULTIPART), (None, ENCODED)):
            response = await client.http.post(
                client.url("requests"),
                content=content,
                data=None if content else VALID,
                headers={"X-Api-Key": client.key, "Content-Type": kind},
            )
            assert response.status_code == 200, response.text
        # The header's key is the one that counts: a valid one in the form does not rescue it.
        response = await client.http.post(
            client.url("requests"),
            data={**VALID, "api_key": client.key},
            headers={"X-Api-Key": "o311_guess"},
        )
        assert response.status_code == 403
    assert await _cases(loaded) == 2


async def test_a_key_in_the_query_or_last_in_the_form_still_works(
    loaded: ServiceContext, clock: Clock
) -> None:
    async with open311_client(loaded, clock, "json") as client:
        response = await client.http.post(
            client.url("requests"), params={"api_key": client.key}, data=VALID
        )
        assert response.status_code == 200, response.text
        # Standard clients put api_key anywhere in the form: after a 4,000-character text too.
        long = {**VALID, "description": "漏" * 4000, "api_key": client.key}
        for content, kind in ((_multipart(long), MULTIPART), (None, ENCODED)):
            response = await client.http.post(
                client.url("requests"),
                content=content,
                data=None if content else long,
                headers={"Content-Type": kind},
            )
            assert response.status_code == 200, response.text
    assert await _cases(loaded) == 3


BAD_FORMS: list[Any] = [
    pytest.param(ENCODED, b"description=" + b"a" * 70_000, "too_large", id="a field too big"),
    pytest.param(ENCODED, b"&".join(b"f%d=1" % i for i in range(100)), "too_large", id="fields"),
    pytest.param(ENCODED, b"description=%FF%FE", "form", id="not UTF-8"),
    pytest.param(
        MULTIPART,
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="f"; filename="a.png"\r\n\r\n'
        f"PNG\r\n--{BOUNDARY}--\r\n".encode(),
        "form",
        id="a file",
    ),
    pytest.param(MULTIPART, f"--{BOUNDARY}\r\nContent-Dispo".encode(), "form", id="cut short"),
    pytest.param("application/json", b'{"description": "x"}', "form", id="JSON"),
]


@pytest.mark.parametrize(("kind", "content", "reason"), BAD_FORMS)
async def test_a_bad_form_is_400_with_a_key_and_403_without(
    loaded: ServiceContext, clock: Clock, kind: str, content: bytes, reason: str
) -> None:
    async with open311_client(loaded, clock, "json") as client:
        url = client.url("requests")
        keyed = await client.http.post(
            url, content=content, headers={"Content-Type": kind, "X-Api-Key": client.key}
        )
        keyless = await client.http.post(url, content=content, headers={"Content-Type": kind})
    assert keyed.status_code == 400, keyed.text
    expected = "请求过大" if reason == "too_large" else "表单编码"
    assert expected in error_of(keyed.json())[1]
    assert keyless.status_code == 403, keyless.text
    assert error_of(keyless.json())[0] == "403"
