"""One-time Telegram invite codes that bind a chat to a person of the directory: only a code's
hash is kept, and used or expired invites are purged."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, delete, or_

from bot.services.unit.context import ServiceContext, ServiceRefusal
from db import queries
from db.models import Invite
from db.models.sessions import hashed

INVITE_LIFETIME = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class NewInvite:
    """An invite just made: its code (for the link, never stored), whom it binds, until when."""

    code: str
    person_id: str
    expires_at: datetime


async def create_invite(ctx: ServiceContext, *, person_id: str) -> NewInvite:
    """A fresh code for ``person_id``, valid once for seven days."""
    now = ctx.clock()
    async with ctx.db.transaction() as session:
        person = await queries.get_person(session=session, person_id=person_id)
        if person is None or not person.active:
            raise ServiceRefusal("refused.unknown_person", {"person": person_id})
        # 16 random bytes: unguessable, and short enough for Telegram's 64-character start payload.
        code = secrets.token_urlsafe(16)
        session.add(
            Invite(
                code_hash=hashed(code),
                person_id=person.id,
                created_at=now,
                expires_at=now + INVITE_LIFETIME,
            )
        )
        return NewInvite(code, person.id, now + INVITE_LIFETIME)


async def purge_invites(ctx: ServiceContext) -> int:
    """Delete the invites used or expired (the scheduler's job); how many went."""
    statement = delete(Invite).where(
        or_(col(Invite.used_at).is_not(None), col(Invite.expires_at) <= ctx.clock())
    )
    async with ctx.db.transaction() as session:
        return (await session.exec(statement)).rowcount
