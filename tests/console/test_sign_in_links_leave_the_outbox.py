"""No sign-in link in the outbox once it is sent: on the running stack with the Telegram and
Twilio emulators, a link asked for with ``/web`` and one queued by SMS (``console-link --sms``)
reach their person whole, and then no outbox row (SELECT of every column) holds the link's
token — the rows keep the link without it. The link itself still signs in, once."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import text

from bot.services.staff import signin
from bot.services.unit.context import ServiceContext
from db.engine import Database
from sandbox.harness import eventually
from tests.e2e.channels import Both, both_channels

SECRET = "outbox-console-secret-0123456789"
STAFF_CHAT, STAFF_PHONE = 1001, "+8613800000001"  # 刘博 (liubo)
TOKEN = re.compile(r"/console/login/([A-Za-z0-9_-]+)")
PROOF = re.compile(r'name="csrf" value="([^"]+)"')


async def _outbox(ctx: ServiceContext) -> list[tuple[str, str, list[str]]]:
    """Every outbox row as (template, status, its cells as text)."""
    async with ctx.db.reading() as session:
        conn = await session.connection()
        found = await conn.execute(text("SELECT * FROM outbox ORDER BY id"))
        return [(row.template, row.status, [str(value) for value in row]) for row in found.all()]


async def _sent(ctx: ServiceContext, template: str) -> bool:
    """True once the row of ``template`` is recorded as sent."""
    return any(t == template and s == "sent" for t, s, _ in await _outbox(ctx))


async def _leaves_no_token(run: Both, template: str, token: str) -> None:
    """Once the row is sent, the token is in no cell of any outbox row; the row keeps the link
    without it."""
    await eventually(lambda: _sent(run.ctx, template))
    rows = await _outbox(run.ctx)
    assert not [cells for _, _, cells in rows if any(token in cell for cell in cells)]
    (row,) = [cells for t, _, cells in rows if t == template]
    assert any("/console/login/…" in cell for cell in row)


async def _signs_in(run: Both, link: str) -> None:
    """The link, opened and pressed in a browser-like client, signs in once."""
    async with httpx.AsyncClient(timeout=10) as http:
        shown = await http.get(link)
        proof = PROOF.search(shown.text)
        assert proof, shown.text[:300]
        pressed = await http.post(link, data={"csrf": proof.group(1)})
        assert pressed.status_code == 303
        assert (await http.get(f"{run.public_url}/console/cases")).status_code == 200


async def test_a_link_sent_on_telegram_leaves_no_token_in_the_outbox(db: Database) -> None:
    async with both_channels(db, console_secret=SECRET) as run:
        run.telegram.add_user(STAFF_CHAT, "刘博")
        await run.telegram.user_says(STAFF_CHAT, "/web")
        await run.until(lambda: len(run.telegram.inbox(STAFF_CHAT)) > 0)
        received = run.telegram.inbox(STAFF_CHAT)[0].text
        found = TOKEN.search(received)
        assert found, received  # the person got the link whole
        await _leaves_no_token(run, "web.link", found.group(1))
        await _signs_in(run, f"{run.public_url}{found.group(0)}")


async def test_a_link_sent_by_sms_leaves_no_token_in_the_outbox(db: Database) -> None:
    async with both_channels(db, console_secret=SECRET) as run:
        token, person = await signin.issue_token(run.ctx, person_id="liubo")
        link = f"{run.public_url}/console/login/{token}"
        assert await signin.text_link(run.ctx, person=person, url=link)  # console-link --sms
        run.stack.kick()  # as the running server's delivery would be woken
        await run.until(lambda: len(run.twilio.inbox(STAFF_PHONE)) > 0)
        assert link in run.twilio.inbox(STAFF_PHONE)[0].body
        await _leaves_no_token(run, "web.link_sms", token)
        await _signs_in(run, link)
