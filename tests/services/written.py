"""What one report left in the database — person, address, case, events, every outbox row —
with what differs between two reporters taken out, so two paths' rows can be compared."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlmodel import col, select

from bot.services.unit.context import ServiceContext
from db.models import Case, CaseEvent, Identity, OutboxMessage, Person


async def written(
    ctx: ServiceContext,
    address: str,
    inbound: str = r"sms:SM\w+",
    *,
    since: datetime | None = None,
) -> dict[str, Any]:
    """What the report of the person at ``address`` left, with its own number, ids, address and
    inbound keys (matching the pattern ``inbound``) taken out. ``since``: a person who reported
    before — only the case opened at or after it, and the outbox rows made since."""
    async with ctx.db.reading() as session:
        [(person, identity)] = (
            await session.exec(
                select(Person, Identity)
                .join(Identity, col(Identity.person_id) == col(Person.id))
                .where(Identity.address == address)
            )
        ).all()
        cases = select(Case).where(Case.resident_id == person.id)
        if since is not None:
            cases = cases.where(col(Case.created_at) >= since)
        [case] = (await session.exec(cases)).all()
        events = (
            await session.exec(
                select(CaseEvent)
                .where(CaseEvent.case_number == case.number)
                .order_by(col(CaseEvent.id))
            )
        ).all()
        told = select(OutboxMessage).where(
            (OutboxMessage.case_number == case.number) | (OutboxMessage.person_id == person.id)
        )
        if since is not None:
            told = told.where(col(OutboxMessage.created_at) >= since)
        rows = (await session.exec(told.order_by(col(OutboxMessage.id)))).all()

    def plain(value: Any) -> Any:
        text = str(value).replace(address, "ADDRESS").replace(person.id, "RESIDENT")
        text = re.sub(inbound, "INBOUND", text)
        for event in events:
            text = text.replace(f"event:{event.id}:", "event:E:")
        # The case's number where it is named: "#2", "case:2:", button data "…:2", "number": 2.
        text = re.sub(rf"(?<=[:#]){case.number}(?!\d)", "N", text)
        return re.sub(rf"'number': {case.number}(?!\d)", "'number': N", text)

    skip = {"number", "resident_id", "id", "case_number", "person_id", "updated_at"}
    return {
        "person": plain(person.model_dump(exclude={"id", "name"})),
        "identity": plain(identity.model_dump(exclude={"id", "person_id", "address"})),
        "case": plain(case.model_dump(exclude=skip)),
        "events": [plain(e.model_dump(exclude=skip)) for e in events],
        "outbox": [plain(r.model_dump(exclude=skip)) for r in rows],
    }
