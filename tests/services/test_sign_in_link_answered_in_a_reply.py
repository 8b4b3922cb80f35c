"""A sign-in link answered in a channel's own reply (SMS: the TwiML of the webhook's answer) is
born "sent": once the reply is built from its row, the row loses the link's token too. Other
answers are left as they are, and cost no write."""

from __future__ import annotations

import re

from sqlmodel import select

from bot.delivery.results import scrub_answered
from bot.delivery.store import answers_to
from bot.services.staff import signin
from bot.services.talk.replies import help_for
from bot.services.unit.context import ServiceContext
from bot.services.unit.inbound import Inbound
from core.sms_text import as_sms
from db.models import OutboxMessage

PHONE = "+8613800000001"  # liubo, staff: reached by SMS
TOKEN = re.compile(r"/console/login/([A-Za-z0-9_-]+)")


async def _all(ctx: ServiceContext) -> list[OutboxMessage]:
    async with ctx.db.reading() as session:
        return list((await session.exec(select(OutboxMessage))).all())


async def test_a_link_in_a_reply_is_scrubbed_once_the_reply_is_built(
    loaded: ServiceContext,
) -> None:
    inbound = Inbound("sms", "SM-web-1", address=PHONE)
    await signin.console_link(loaded, inbound, base_url="https://wolaiban.example.org")
    rows = await answers_to(loaded, inbound.key, "sms")
    assert [(r.template, r.status) for r in rows] == [("web.link", "sent")]
    reply = [as_sms(r.text, r.button_rows(), r.language) for r in rows]
    found = TOKEN.search(reply[0])
    assert found, reply  # the person gets the whole link in the reply
    await scrub_answered(loaded, rows)
    stored = await _all(loaded)
    assert not [r for r in stored if found.group(1) in f"{r.text} {r.params}"]
    (row,) = stored
    assert "/console/login/…" in row.text
    assert "/console/login/…" in row.params["url"]
    assert await signin.link_open(loaded, token=found.group(1))  # the link itself still works


async def test_other_answers_are_left_as_they_are(loaded: ServiceContext) -> None:
    inbound = Inbound("sms", "SM-help-1", address=PHONE)
    await help_for(loaded, inbound)
    rows = await answers_to(loaded, inbound.key, "sms")
    assert rows
    before = [(r.id, r.text, r.params) for r in await _all(loaded)]
    await scrub_answered(loaded, rows)
    assert [(r.id, r.text, r.params) for r in await _all(loaded)] == before
