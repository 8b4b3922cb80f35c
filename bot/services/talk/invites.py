"""One-time Telegram invite codes that bind a chat to a person of the directory."""

from __future__ import annotations

import secrets
from datetime import timedelta

from bot.services.unit.context import ServiceContext, ServiceRefusal
from db import queries
from db.models import Invite

INVITE_LIFETIME = timedelta(days=7)


async def create_invite(ctx: ServiceContext, *, person_id: str) -> Invite:
    """A fresh code for ``person_id``, valid once for seven days."""
    now = ctx.clock()
    async with ctx.db.transaction() as session:
        person = await queries.get_person(session=session, person_id=person_id)
        if person is None or not person.active:
            raise ServiceRefusal("refused.unknown_person", {"person": person_id})
        # 16 random bytes: unguessable, and short enough for Telegram's 64-character start payload.
        invite = Invite(
            code=secrets.token_urlsafe(16),
            person_id=person.id,
            created_at=now,
            expires_at=now + INVITE_LIFETIME,
        )
        session.add(invite)
        return invite
