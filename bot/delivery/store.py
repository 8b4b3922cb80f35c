"""The outbox as delivery reads it: the messages waiting or given up on, and the answers to one
inbound (a channel that answers in its reply). Claims are in ``claims``, results in ``results``."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import col, select

from bot.services.unit.context import ServiceContext
from db.models import WAITING, OutboxMessage, OutboxStatus

GIVEN_UP = (OutboxStatus.DEAD,)
CLAIMABLE = WAITING
OUTBOX = OutboxMessage.__table__  # type: ignore[attr-defined]


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


async def answers_to(ctx: ServiceContext, inbound_key: str, channel: str) -> list[OutboxMessage]:
    """The messages that answer one inbound on ``channel`` (a channel answering in its reply)."""
    async with ctx.db.reading() as session:
        query = (
            select(OutboxMessage)
            .where(OutboxMessage.reply_to == inbound_key, OutboxMessage.channel == channel)
            .order_by(col(OutboxMessage.id))
        )
        return list((await session.exec(query)).all())
