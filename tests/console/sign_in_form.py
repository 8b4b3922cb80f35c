"""Signing in as a browser does it: open the link (GET: the page, its form token and the sign-in
cookie), then press the button (POST with the form's token)."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import text

from bot.services.staff import signin
from bot.services.unit.context import ServiceContext

from .conftest import Browser

PROOF = re.compile(r'name="csrf" value="([^"]+)"')
BACKGROUND = {"HX-Request": "true", "X-Wolaiban-Background": "1"}


async def form_token(browser: Browser, token: str) -> str:
    """Open the sign-in link ``token`` in ``browser``: the token its form carries."""
    shown = await browser.client.get(f"/console/login/{token}")
    assert shown.status_code == 200, shown.text[:300]
    found = PROOF.search(shown.text)
    assert found, shown.text[:300]
    return found.group(1)


async def signed_in(browser: Browser, person_id: str) -> httpx.Response:
    """A fresh link for ``person_id``, opened and pressed: the answer to the press."""
    token, _ = await signin.issue_token(browser.ctx, person_id=person_id)
    proof = await form_token(browser, token)
    return await browser.client.post(f"/console/login/{token}", data={"csrf": proof})


async def rows(ctx: ServiceContext, table: str) -> list[tuple[object, ...]]:
    """Every row of ``table``, every column, as the database holds them."""
    async with ctx.db.reading() as session:
        conn = await session.connection()
        found = await conn.execute(text(f"SELECT * FROM {table}"))  # the tests name the table
        return [tuple(row) for row in found.all()]
