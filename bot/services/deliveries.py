"""Delivery reports from a provider: a message's delivery state moves only forward, whatever order
the reports come in, and a report that overtook our record of the send waits for it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db import queries
from db.models import DeliveryReport, OptOut, OutboxMessage

from .context import ServiceContext


async def opt_out(session: AsyncSession, address: str, now: datetime) -> None:
    """Remember that ``address`` unsubscribed (the provider said so)."""
    if await session.get(OptOut, address) is None:
        session.add(OptOut(phone=address, at=now, source="provider"))


# Delivery states in the order they happen; the two failures are as final as "delivered".
PROGRESS = {
    "accepted": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "undelivered": 4,
    "failed": 4,
    "read": 5,
}


async def record_delivery(
    ctx: ServiceContext,
    *,
    provider_id: str,
    state: str,
    error: str | None = None,
    opted_out: bool = False,
) -> bool:
    """A provider's delivery report (``state`` one of ``PROGRESS``); the state only moves forward,
    whatever order reports come in. A report for a send not recorded yet (it overtook the
    provider's answer to us) is kept and applied when the send is; False then."""
    now = ctx.clock()
    async with ctx.db.transaction() as session:
        # The send may be being recorded right now: one waits for the other, so a report that
        # finds no send is kept where that send's record will look for it.
        await queries.serialize_on(session=session, keys=[provider_id])
        query = select(OutboxMessage).where(OutboxMessage.provider_message_id == provider_id)
        row = (await session.exec(query.with_for_update())).first()
        if row is None:
            session.add(
                DeliveryReport(
                    provider_message_id=provider_id,
                    state=state,
                    error=error,
                    opted_out=opted_out,
                    received_at=now,
                )
            )
            return False
        await apply_report(session, row, state, error, opted_out, now)
        return True


async def apply_report(
    session: AsyncSession,
    row: OutboxMessage,
    state: str,
    error: str | None,
    opted_out: bool,
    now: datetime,
) -> None:
    """Move a message's delivery state forward; remember an opt-out."""
    rank = PROGRESS.get(state)
    if rank is not None and rank > PROGRESS.get(row.delivery_status or "", -1):
        row.delivery_status = state
    if error:
        row.last_error = f"{state} (error {error})"
    if opted_out:
        await opt_out(session, row.address, now)
    session.add(row)


async def reconcile(session: AsyncSession, rows: Sequence[OutboxMessage], now: datetime) -> None:
    """Apply the delivery reports that came before these sends were recorded."""
    ids = {row.provider_message_id: row for row in rows if row.provider_message_id}
    if not ids:
        return
    query = (
        select(DeliveryReport)
        .where(col(DeliveryReport.provider_message_id).in_(sorted(ids)))
        .order_by(col(DeliveryReport.id))
    )
    for report in (await session.exec(query)).all():
        row = ids[report.provider_message_id]
        await apply_report(session, row, report.state, report.error, report.opted_out, now)
        await session.delete(report)
