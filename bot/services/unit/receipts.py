"""Whether an inbound message was handled before: asked before costly work for it (fetching an
MMS's media), so a provider's retry of a message costs a read, not another download."""

from __future__ import annotations

from sqlmodel import select

from bot.services.unit.context import ServiceContext
from bot.services.unit.inbound import Inbound
from db.models import InboundReceipt


async def handled_before(ctx: ServiceContext, inbound: Inbound) -> bool:
    """True when ``inbound`` was recorded as handled (its use case will raise AlreadyHandled)."""
    query = select(InboundReceipt.id).where(
        InboundReceipt.source == inbound.channel,
        InboundReceipt.external_id == inbound.external_id,
    )
    async with ctx.db.reading() as session:
        return (await session.exec(query)).first() is not None
