"""The console over httpx's ASGI transport: the real app (``create_web_app`` with the console's
routes) on the test database and clock, and browsers signed in as the example directory's people;
for the tests in Chromium, the real stack with both emulators (``run``) and the browser
(``chromium``), with their helpers in in_browser.py."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from bot.config import Settings
from bot.console.routes import console_routes
from bot.services.staff import signin
from bot.services.unit.context import ServiceContext
from bot.web import create_web_app
from db.models import CaseEvent, OutboxMessage
from sandbox.harness import migrated_sqlite
from tests.e2e.channels import Both, both_channels

from .in_browser import CHROMIUM
from .in_browser import SECRET as BROWSER_SECRET
from .in_browser import STAFF as STAFF_TELEGRAM
from .in_browser import SUPERVISOR as SUPERVISOR_TELEGRAM

SECRET = "console-secret-for-the-tests-0123456789"
BASE = "http://127.0.0.1:8080"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
FORM = re.compile(r'name="form" value="([^"]+)"')

STAFF, OTHER_STAFF = "liubo", "suxinghua"  # jzsj-south, bgy-north
MANAGER, OTHER_MANAGER = "mgr-jzsj-south", "mgr-bgy-north"
SUPERVISOR, RESIDENT = "sup-jzsj-south", "r-jzsj-172"


def console_settings(ctx: ServiceContext, **values: object) -> Settings:
    """Settings with the console on (``values`` over them)."""
    found: dict[str, object] = {
        "database_url": ctx.db.url,
        "console_secret": SECRET,
        "public_url": BASE,
    }
    found.update(values)
    return Settings(_env_file=None, **found)  # type: ignore[arg-type]


@dataclass
class Browser:
    """One browser (its own cookies) on the console."""

    client: httpx.AsyncClient
    ctx: ServiceContext
    kicks: list[int] = field(default_factory=list)

    async def sign_in(self, person_id: str) -> httpx.Response:
        """Open a fresh one-time link for ``person_id`` and press sign in (with the token of the
        form the page showed): the answer to the press."""
        token, _ = await signin.issue_token(self.ctx, person_id=person_id)
        shown = await self.client.get(f"/console/login/{token}")
        found = CSRF.search(shown.text)
        assert found, shown.text[:300]
        return await self.client.post(f"/console/login/{token}", data={"csrf": found.group(1)})

    async def csrf(self, path: str = "/console/cases") -> str:
        """The CSRF token the page at ``path`` carries in its forms."""
        page = await self.client.get(path)
        found = CSRF.search(page.text)
        assert found, page.text[:300]
        return found.group(1)

    async def act(self, number: int, **form: str) -> httpx.Response:
        """Send the case page's action form with ``form`` (and the page's own CSRF token)."""
        page = await self.client.get(f"/console/cases/{number}")
        token, form_id = CSRF.search(page.text), FORM.search(page.text)
        assert token, page.text[:300]
        assert form_id, page.text[:300]
        fields = {"csrf": token.group(1), "form": form_id.group(1), **form}
        return await self.client.post(f"/console/cases/{number}/act", data=fields)


def plant(browser: Browser, value: str) -> None:
    """Make ``value`` the browser's only console cookie (as an attacker could)."""
    browser.client.cookies.clear()
    browser.client.cookies.set("wolaiban_console", value, domain="127.0.0.1", path="/console")


@pytest.fixture
async def browser_for(loaded: ServiceContext) -> AsyncIterator[Callable[..., Browser]]:
    """``browser_for(**settings)``: a new browser on the console with those settings; every one
    made is closed after the test."""
    clients: list[httpx.AsyncClient] = []

    def make(**values: object) -> Browser:
        kicks: list[int] = []
        settings = console_settings(loaded, **values)
        routes = console_routes(settings, loaded, lambda: kicks.append(1))
        app = create_web_app(loaded, routes)
        transport = httpx.ASGITransport(app=app)
        client = httpx.AsyncClient(transport=transport, base_url=settings.public_url)
        clients.append(client)
        return Browser(client, loaded, kicks)

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
def browser(browser_for: Callable[..., Browser]) -> Browser:
    """A browser on the console, not signed in."""
    return browser_for()


async def events_of(ctx: ServiceContext, number: int) -> list[tuple[str, str, str | None]]:
    """A case's events as (kind, channel, actor)."""
    async with ctx.db.reading() as session:
        query = select(CaseEvent).where(CaseEvent.case_number == number)
        rows = (await session.exec(query.order_by(col(CaseEvent.id)))).all()
    return [(e.kind, e.channel, e.actor_id) for e in rows]


async def outbox_count(ctx: ServiceContext) -> int:
    """How many outbox rows there are."""
    async with ctx.db.reading() as session:
        return len((await session.exec(select(OutboxMessage.id))).all())


@pytest.fixture
async def run(tmp_path: Path) -> AsyncIterator[Both]:
    """The stack with the console on, both emulators, 刘博 and 赵主管 in Telegram."""
    db = await migrated_sqlite(tmp_path / "wolaiban.db")
    try:
        async with both_channels(db, console_secret=BROWSER_SECRET) as running:
            running.telegram.add_user(STAFF_TELEGRAM, "刘博")
            running.telegram.add_user(SUPERVISOR_TELEGRAM, "赵主管")
            yield running
    finally:
        await db.dispose()


@pytest.fixture
async def chromium() -> AsyncIterator[Any]:
    """Debian's Chromium, headless, as root needs it."""
    playwright_api = pytest.importorskip("playwright.async_api")
    async with playwright_api.async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox"]
        )
        try:
            yield launched
        finally:
            await launched.close()
