"""What the outbox holds: messages waiting to be sent, and those given up on."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import col, select

from db.models import OutboxMessage

from .context import ServiceContext

WAITING = ("pending", "failed")
GIVEN_UP = ("dead",)


async def outbox_messages(
    ctx: ServiceContext, *, dead: bool = False, limit: int = 200
) -> Sequence[OutboxMessage]:
    """Messages waiting (oldest first), or with ``dead`` those given up on."""
    statuses = GIVEN_UP if dead else WAITING
    query = (
        select(OutboxMessage)
        .where(col(OutboxMessage.status).in_(statuses))
        .order_by(col(OutboxMessage.id))
        .limit(limit)
    )
    async with ctx.db.reading() as session:
        return (await session.exec(query)).all()
