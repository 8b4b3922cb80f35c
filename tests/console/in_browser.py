"""The console in Debian's Chromium, for the browser tests: the stack's residents reporting by SMS
or talking in Telegram, a staff member's ``/web`` sign-in link, and a page signed in with it (the
link opened, "sign in" pressed, on the case list). The fixtures (``run``, ``chromium``) are in
conftest.py."""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.console.routes import console_routes
from bot.services.unit.context import ServiceContext
from bot.web import create_web_app
from sandbox.serve import free_port, serving
from sandbox.telegram import Sent
from tests.e2e.channels import Both

CHROMIUM = Path("/usr/bin/chromium")
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="browser tests: no Chromium at /usr/bin/chromium (apt-get install -y chromium)",
)
SECRET = "browser-console-secret-0123456789"
STAFF, SUPERVISOR = 1001, 3001  # 刘博 (jzsj-south), 赵主管 in Telegram
LI_DAYE, JZSJ_SOUTH = "+8613900000001", "+8610690000001"  # a resident, his community's number
PHONE = {"width": 390, "height": 844}  # a phone's viewport, in CSS pixels
LINK = re.compile(r"(http://127\.0\.0\.1:\d+/console/login/[A-Za-z0-9_-]+)")


async def reported_by_sms(run: Both, text: str, phone: str = LI_DAYE, to: str = JZSJ_SOUTH) -> int:
    """``phone`` (李大爷) texts a report to ``to`` (his community's number): the case's number
    from the answer."""
    reply = await run.text(phone, to, text)
    found = re.search(r"#(\d+)", " ".join(reply.messages))
    assert found, reply.body
    return int(found.group(1))


async def sign_in_link(run: Both, user: int = STAFF) -> str:
    """``user`` (刘博) sends /web; the link the bot answers with."""
    seen = len(run.telegram.inbox(user))
    await run.telegram.user_says(user, "/web")
    await run.until(lambda: len(run.telegram.inbox(user)) > seen)
    message = run.telegram.inbox(user)[seen].text
    found = LINK.search(message)
    assert found, message
    return found.group(1)


async def sign_in(
    page: Any, link: str, *, first: Callable[[Any], Awaitable[None]] | None = None
) -> None:
    """Open the sign-in ``link`` in ``page`` and press sign in: on the case list. ``first`` looks
    at the sign-in page before the press."""
    await page.goto(link)
    if first is not None:
        await first(page)
    await page.click("#sign-in")
    await page.wait_for_url("**/console/cases")


@asynccontextmanager
async def signed_in(chromium: Any, link: str, **options: Any) -> AsyncIterator[Any]:
    """A page of a new browser context (``options``: its locale, viewport, downloads) signed in
    with ``link``; the context closed after."""
    context = await chromium.new_context(**options)
    try:
        page = await context.new_page()
        await sign_in(page, link)
        yield page
    finally:
        await context.close()


def downloaded(path: str | Path) -> bytes:
    """The bytes of a file the browser downloaded (read outside the event loop's own code)."""
    return Path(path).read_bytes()


def errors_of(page: Any) -> list[str]:
    """The page's console errors from now on (a script or style the CSP refused shows there)."""
    found: list[str] = []
    page.on("console", lambda m: found.append(m.text) if m.type == "error" else None)
    return found


def refused_by_csp(errors: list[str]) -> list[str]:
    """The errors that say the Content Security Policy refused something."""
    return [e for e in errors if "Content Security Policy" in e]


def png(width: int = 160, height: int = 120) -> bytes:
    """A real PNG (a gradient), as a phone's photo would be an image."""
    rows = b"".join(
        b"\x00" + bytes(v for x in range(width) for v in (x % 256, y * 2 % 256, 160))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


async def _next(run: Both, user: int, seen: int) -> Sent:
    """The bot's next message to ``user`` after the ``seen`` first."""
    await run.until(lambda: len(run.telegram.inbox(user)) > seen)
    return run.telegram.inbox(user)[seen]


async def says(run: Both, user: int, text: str = "", **sent: Any) -> Sent:
    """``user`` writes in Telegram (``sent``: a photo, the message replied to); the bot's next
    message to them."""
    seen = len(run.telegram.inbox(user))
    await run.telegram.user_says(user, text, **sent)
    return await _next(run, user, seen)


async def presses(run: Both, user: int, message: Sent, label: str) -> Sent:
    """``user`` presses the button labelled ``label`` under ``message``; the bot's next message."""
    data = [b["callback_data"] for row in message.buttons for b in row if b["text"] == label]
    assert data, [b["text"] for row in message.buttons for b in row]
    seen = len(run.telegram.inbox(user))
    await run.telegram.user_presses(user, message, data[0])
    return await _next(run, user, seen)


@asynccontextmanager
async def console_served(ctx: ServiceContext, secret: str) -> AsyncIterator[str]:
    """The real console app on ``ctx``'s database, served on a free loopback port: its URL."""
    port = free_port()
    settings = Settings(
        _env_file=None,
        database_url=ctx.db.url,
        console_secret=secret,
        public_url=f"http://127.0.0.1:{port}",
    )
    app = create_web_app(ctx, console_routes(settings, ctx, lambda: None))
    async with serving(app, port=port) as url:
        yield url
