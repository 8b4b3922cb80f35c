"""The unit of work: one transaction per use case, and per inbound message on every channel —
the receipt that makes a replay harmless, the sender resolved and held to the limits, and a
refusal answered while the work is rolled back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.services.unit import identities, limits
from bot.services.unit.context import ServiceContext, ServiceRefusal, Unit
from bot.services.unit.inbound import AlreadyHandled, Inbound
from bot.services.unit.limits import Limited
from bot.services.unit.outbox import Outbox
from bot.services.unit.reach import language_of
from db.queries import record_receipt


@asynccontextmanager
async def unit_of_work(ctx: ServiceContext, inbound: Inbound | None = None) -> AsyncIterator[Unit]:
    """One transaction for one use case.

    With ``inbound``: a replay raises ``AlreadyHandled``; the sender is resolved (a stranger
    becomes a resident) and held to the limits; a refusal of the work rolls the work back but
    keeps the message's receipt and the answer that says why, so the message is handled once.
    """
    now = ctx.clock()
    raised: BaseException | None = None
    async with ctx.db.transaction() as session:
        outbox = Outbox(session, now, ctx.default_language, ctx.channels, inbound)
        unit = Unit(session, now, ctx.default_language, outbox, ctx.limits, inbound)
        if inbound is None:
            yield unit
            return
        if not await record_receipt(
            session=session,
            source=inbound.channel,
            external_id=inbound.external_id,
            at=now,
            sender=inbound.address or None,
        ):
            raise AlreadyHandled(inbound.key)
        if inbound.address:
            unit.sender = await identities.sender_of(unit, inbound)
            outbox.sender_id = unit.sender.id
        savepoint = await session.begin_nested()
        try:
            limited = unit.sender is not None and limits.applies_to(unit.sender)
            if limited and await limits.too_many_messages(unit, inbound, ctx.limits):
                raise Limited()
            yield unit
        except (ServiceRefusal, Limited) as refused:
            raised = refused
            if savepoint.is_active:
                await savepoint.rollback()
            unit.outbox.rolled_back()
            if unit.sender is not None:
                await session.refresh(unit.sender)
            await _answer_refusal(unit, refused)
        else:
            if savepoint.is_active:
                await savepoint.commit()
    if raised is not None:
        raise raised


async def _answer_refusal(unit: Unit, refused: BaseException) -> None:
    """Tell the sender why nothing was done (once per window for a limit)."""
    sender, inbound = unit.sender, unit.inbound
    if sender is None or inbound is None:
        return
    if isinstance(refused, Limited):
        if not await limits.noticed(unit, sender, unit.limits):
            await unit.outbox.tell(sender, limits.NOTICE, key=unit.key())
        return
    assert isinstance(refused, ServiceRefusal)
    refused.language = language_of(sender, unit.default_language)
    if not inbound.refusal_aside:
        await unit.outbox.tell(sender, refused.reason, key=unit.key(), params=refused.params)
