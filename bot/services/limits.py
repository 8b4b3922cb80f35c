"""Per-sender limits, one rule for every channel's residents: past them a resident gets one polite
notice and then silence until the window passes. People acting in their role (managers,
supervisors, staff) are never limited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlmodel import col, func, select

from db.models import Case, InboundReceipt, OutboxMessage, Person

from .inbound import Inbound

if TYPE_CHECKING:
    from .context import Unit

NOTICE = "limits.slow_down"


@dataclass(frozen=True, slots=True)
class SenderLimits:
    """How much one resident may send: messages per ``message_window``, cases per
    ``case_window``."""

    messages: int = 30
    message_window: timedelta = timedelta(hours=1)
    cases: int = 5
    case_window: timedelta = timedelta(minutes=10)


class Limited(Exception):
    """The sender is past a limit: nothing of this message was done (the notice, once, was)."""


def applies_to(person: Person) -> bool:
    """Limits are for residents: a manager answering forty cases an hour is doing the job."""
    return person.role == "resident"


async def too_many_messages(unit: Unit, inbound: Inbound, limits: SenderLimits) -> bool:
    """True when this sender's messages in the window (this one included) are over the limit."""
    since = unit.now - limits.message_window
    query = select(func.count()).where(
        InboundReceipt.source == inbound.channel,
        InboundReceipt.sender == inbound.address,
        col(InboundReceipt.received_at) > since,
    )
    return int((await unit.session.exec(query)).one()) > limits.messages


async def too_many_cases(unit: Unit, person: Person, limits: SenderLimits) -> bool:
    """True when ``person`` opened as many cases as the window allows already."""
    since = unit.now - limits.case_window
    query = select(func.count()).where(Case.resident_id == person.id, col(Case.created_at) > since)
    return int((await unit.session.exec(query)).one()) >= limits.cases


async def noticed(unit: Unit, person: Person, limits: SenderLimits) -> bool:
    """True when ``person`` was told to slow down within the longer window already."""
    since = unit.now - max(limits.message_window, limits.case_window)
    query = select(func.count()).where(
        OutboxMessage.person_id == person.id,
        OutboxMessage.template == NOTICE,
        col(OutboxMessage.created_at) > since,
    )
    return int((await unit.session.exec(query)).one()) > 0
