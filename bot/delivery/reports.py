"""Delivery reports from a provider: a message's delivery state moves only forward, whatever order
the reports come in, and a report that overtook our record of the send waits for it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, delete, update
from sqlalchemy import select as core_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.unit.context import ServiceContext
from db import queries
from db.models import DeliveryReport, OptOut, OutboxMessage
from db.statements import execute_many


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


def forward(current: str | None, state: str) -> str | None:
    """The delivery state after a report of ``state``: it only moves forward."""
    rank = PROGRESS.get(state)
    if rank is not None and rank > PROGRESS.get(current or "", -1):
        return state
    return current


def error_text(state: str, error: str) -> str:
    """What a failed delivery report leaves as the message's last error."""
    return f"{state} (error {error})"


async def apply_report(
    session: AsyncSession,
    row: OutboxMessage,
    state: str,
    error: str | None,
    opted_out: bool,
    now: datetime,
) -> None:
    """Move a message's delivery state forward; remember an opt-out."""
    row.delivery_status = forward(row.delivery_status, state)
    if error:
        row.last_error = error_text(state, error)
    if opted_out:
        await opt_out(session, row.address, now)
    session.add(row)


class Sent(NamedTuple):
    """A message just recorded as sent, as ``reconcile_sent`` needs it."""

    id: int
    delivery_status: str | None
    last_error: str | None
    address: str


def reconcile_sent(conn: Connection, sent: Mapping[str, Sent], now: datetime) -> None:
    """Apply the delivery reports that came before these sends were recorded (messages keyed by
    their provider id), in the order they came: a Core unit's (on the writer), in a constant
    number of statements whatever their number."""
    if not sent:
        return
    reports = conn.execute(_REPORTS_FOR, {"ids": sorted(sent)}).all()
    if not reports:
        return
    changed: dict[str, Sent] = {}
    opted: set[str] = set()
    for _, provider_id, state, error, opted_out in reports:
        row = changed.get(provider_id, sent[provider_id])
        last_error = error_text(state, error) if error else row.last_error
        changed[provider_id] = row._replace(
            delivery_status=forward(row.delivery_status, state), last_error=last_error
        )
        if opted_out:
            opted.add(row.address)
    execute_many(
        conn,
        _DELIVERY_STATE,
        [
            {"row_id": r.id, "delivery_status": r.delivery_status, "last_error": r.last_error}
            for r in changed.values()
        ],
    )
    if opted:
        rows = [{"phone": a, "at": now, "source": "provider"} for a in sorted(opted)]
        execute_many(conn, _opt_out_insert(conn.dialect.name), rows)
    conn.execute(_REPORTS_DONE, {"ids": [r[0] for r in reports]})


_REPORTS_FOR = (
    core_select(
        col(DeliveryReport.id),
        col(DeliveryReport.provider_message_id),
        col(DeliveryReport.state),
        col(DeliveryReport.error),
        col(DeliveryReport.opted_out),
    )
    .where(col(DeliveryReport.provider_message_id).in_(bindparam("ids", expanding=True)))
    .order_by(col(DeliveryReport.id))
)
_DELIVERY_STATE = update(OutboxMessage).where(col(OutboxMessage.id) == bindparam("row_id"))
_REPORTS_DONE = delete(DeliveryReport).where(
    col(DeliveryReport.id).in_(bindparam("ids", expanding=True))
)
_OPT_OUT_INSERTS: dict[str, Any] = {}


def _opt_out_insert(dialect: str) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING`` of an opt-out: an address remembered once."""
    if dialect not in _OPT_OUT_INSERTS:
        statement = queries.insert_ignoring(dialect, OptOut)
        _OPT_OUT_INSERTS[dialect] = statement.on_conflict_do_nothing(index_elements=["phone"])
    return _OPT_OUT_INSERTS[dialect]
