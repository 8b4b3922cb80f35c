"""Requests bounded before they are read: the URL (414) and the headers (431) in size, the body by
a cap per route counted as it streams in (413) and by a deadline for the whole of it (408); past
any of them the app is not run, or stops reading, and nothing more is read."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.config import Settings

# A body on any other route (health, metrics, unknown paths): none of them takes one.
OTHER_MAX_BYTES = 16 * 1024
# The headers together, and the URL (path and query: an Open311 GET may list 1,000 request ids).
# uvicorn's h11 refuses a head arriving in pieces past HEAD_MAX_BYTES (400), but not one that
# arrives whole in one read: both are counted here too.
HEADERS_MAX_BYTES = 16 * 1024
URL_MAX_BYTES = 16 * 1024
HEAD_MAX_BYTES = HEADERS_MAX_BYTES + URL_MAX_BYTES
_CLOSE = (b"connection", b"close")


@dataclass(frozen=True, slots=True)
class Bounds:
    """The caps per route family, in bytes, and the seconds a whole body may take."""

    webhook_max_bytes: int
    console_max_bytes: int
    open311_max_bytes: int
    body_seconds: float
    other_max_bytes: int = OTHER_MAX_BYTES

    @classmethod
    def of(cls, settings: Settings) -> Bounds:
        """The bounds ``settings`` choose."""
        return cls(
            webhook_max_bytes=settings.webhook_max_bytes,
            console_max_bytes=settings.console_max_bytes,
            open311_max_bytes=settings.open311_max_bytes,
            body_seconds=settings.http_body_seconds,
        )

    @classmethod
    def defaults(cls) -> Bounds:
        """The bounds of the settings' defaults (an app built without settings, in tests)."""
        fields = Settings.model_fields
        return cls(
            webhook_max_bytes=fields["webhook_max_bytes"].default,
            console_max_bytes=fields["console_max_bytes"].default,
            open311_max_bytes=fields["open311_max_bytes"].default,
            body_seconds=fields["http_body_seconds"].default,
        )

    def cap(self, path: str) -> int:
        """The largest body ``path`` takes, by its first segment (``/console/…`` but not
        ``/consoles``): the routes are mounted as ``/telegram/webhook``, ``/twilio/sms`` and
        ``/twilio/status``, ``/wecom/callback``, ``/wechat-kf/callback``, ``/console/…`` and
        ``/open311/v2/…``."""
        first = path.split("/", 2)[1] if path.startswith("/") else ""
        caps = {
            "telegram": self.webhook_max_bytes,
            "twilio": self.webhook_max_bytes,
            "wecom": self.webhook_max_bytes,
            "wechat-kf": self.webhook_max_bytes,
            "console": self.console_max_bytes,
            "open311": self.open311_max_bytes,
        }
        return caps.get(first, self.other_max_bytes)


class BodyRefused(Exception):
    """Raised from ``receive`` once a body is past its cap or its time: the app stops there."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status, self.text = status, text


def _header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of header ``name`` (lower case), or None."""
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value)
    return None


def declared_length(scope: Scope) -> int | None:
    """The request's ``Content-Length`` when it is a number (the server refused a malformed one)."""
    value = _header(scope, b"content-length")
    return int(value) if value is not None and value.strip().isdigit() else None


def has_body(scope: Scope) -> bool:
    """Whether the request announces a body (a length above 0, or a chunked one)."""
    length = declared_length(scope)
    return (length is not None and length > 0) or _header(scope, b"transfer-encoding") is not None


class _Exchange:
    """One request under its bounds: the body counted and timed as the app reads it, and the
    answer the app gives replaced by ours once the body was refused."""

    def __init__(
        self, receive: Receive, send: Send, *, cap: int, deadline: float, body: bool
    ) -> None:
        self._receive, self._send = receive, send
        self.cap, self.deadline, self.body_expected = cap, deadline, body
        self.received = 0
        self.complete = False  # the whole body was read (later receives wait for a disconnect)
        self.refused: BodyRefused | None = None
        self.started = False  # a response went out (the app's or ours)

    async def receive(self) -> Message:
        """The next part of the body, or BodyRefused past the cap or the deadline."""
        if self.refused is not None:
            raise self.refused
        if self.complete:
            return await self._receive()
        try:
            async with asyncio.timeout_at(self.deadline):
                message = await self._receive()
        except TimeoutError:
            raise self._refuse(408, "request body not received in time") from None
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.cap:
                raise self._refuse(413, f"request body over {self.cap} bytes")
            self.complete = not message.get("more_body", False)
        return message

    def _refuse(self, status: int, text: str) -> BodyRefused:
        self.refused = BodyRefused(status, text)
        return self.refused

    async def send(self, message: Message) -> None:
        """The app's answer; ours instead once its body was refused. A response given before the
        body was read closes the connection, so that no more of it is read (the server lingers a
        moment first, ``bot/connections.py``, so that the answer arrives)."""
        if self.refused is not None:
            await self.refusal()  # whatever the app made of the exception, the answer is ours
            return
        if message["type"] == "http.response.start":
            self.started = True
            if not self.complete and self.body_expected:
                message = {**message, "headers": [*message.get("headers", ()), _CLOSE]}
        await self._send(message)

    async def refusal(self) -> None:
        """Answer the refusal (once, and only if no response started)."""
        if self.started or self.refused is None:
            return
        self.started = True
        await answer(self._send, self.refused.status, self.refused.text)


async def answer(send: Send, status: int, text: str) -> None:
    """A short plain-text answer that closes the connection."""
    body = f"{text}\n".encode()
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        _CLOSE,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def head_refusal(scope: Scope) -> tuple[int, str] | None:
    """Why the request's URL or headers are refused (414, 431), or None."""
    url = len(scope.get("raw_path") or scope["path"].encode()) + len(scope.get("query_string", b""))
    if url > URL_MAX_BYTES:
        return 414, f"URL over {URL_MAX_BYTES} bytes"
    headers = sum(len(name) + len(value) + 4 for name, value in scope.get("headers", ()))
    if headers > HEADERS_MAX_BYTES:
        return 431, f"request headers over {HEADERS_MAX_BYTES} bytes"
    return None


class Bounded:
    """ASGI middleware: each HTTP request's URL and headers bounded, and its body by its route's
    cap and by the deadline.

    A URL, headers or ``Content-Length`` over their bounds are refused before the app runs; a
    chunked body is counted chunk by chunk as the app reads it. The answer is 414, 431, 413 (408
    past the deadline) and the connection is closed."""

    def __init__(self, app: ASGIApp, bounds: Bounds | None = None) -> None:
        self.app = app
        self.bounds = bounds or Bounds.defaults()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app with a bounded ``receive``."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = self.bounds.cap(scope["path"])
        length = declared_length(scope)
        refusal = head_refusal(scope)
        if refusal is None and length is not None and length > cap:
            refusal = 413, f"request body over {cap} bytes"
        if refusal is not None:
            await answer(send, *refusal)
            return
        deadline = asyncio.get_running_loop().time() + self.bounds.body_seconds
        exchange = _Exchange(receive, send, cap=cap, deadline=deadline, body=has_body(scope))
        try:
            await self.app(scope, exchange.receive, exchange.send)
        except Exception:
            if exchange.refused is None:
                raise
            # The refusal, or whatever the app raised on it: either way the answer is ours.
        await exchange.refusal()
