"""Per-sender limits, one rule for every channel's residents: past them a resident gets one polite
notice and then silence until the window passes. People acting in their role (managers,
supervisors, staff) are never limited."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam
from sqlmodel import col, func, select

from bot.services.unit.context import SenderLimits, Unit
from bot.services.unit.inbound import Inbound
from db.models import Case, InboundReceipt, OutboxMessage, Person

NOTICE = "limits.slow_down"


class Limited(Exception):
    """The sender is past a limit: nothing of this message was done (the notice, once, was)."""


def applies_to(person: Person) -> bool:
    """Limits are for residents: a manager answering forty cases an hour is doing the job."""
    return person.role == "resident"


async def too_many_messages(unit: Unit, inbound: Inbound, limits: SenderLimits) -> bool:
    """True when this sender's messages in the window (this one included) are over the limit."""
    since = unit.now - limits.message_window
    params = messages_params(inbound.channel, inbound.address, since)
    return over_messages(
        int((await unit.session.exec(MESSAGES_SINCE, params=params)).one()), limits
    )


async def too_many_cases(unit: Unit, person: Person, limits: SenderLimits) -> bool:
    """True when ``person`` opened as many cases as the window allows already."""
    params = {"person_id": person.id, "since": unit.now - limits.case_window}
    return at_case_limit(int((await unit.session.exec(CASES_SINCE, params=params)).one()), limits)


# The two counts, built once with named parameters (both paths run these very statements).
MESSAGES_SINCE = select(func.count()).where(
    InboundReceipt.source == bindparam("channel"),
    InboundReceipt.sender == bindparam("address"),
    col(InboundReceipt.received_at) > bindparam("since"),
)
CASES_SINCE = select(func.count()).where(
    Case.resident_id == bindparam("person_id"), col(Case.created_at) > bindparam("since")
)


def messages_params(channel: str, address: str, since: datetime) -> dict[str, object]:
    """``MESSAGES_SINCE``'s parameters: messages from this address after ``since``."""
    return {"channel": channel, "address": address, "since": since}


def over_messages(count: int, limits: SenderLimits) -> bool:
    """The message limit, given the window's count (this message included)."""
    return count > limits.messages


def at_case_limit(count: int, limits: SenderLimits) -> bool:
    """The case limit, given the window's count of cases opened before this one."""
    return count >= limits.cases


async def noticed(unit: Unit, person: Person, limits: SenderLimits) -> bool:
    """True when ``person`` was told to slow down within the longer window already."""
    since = unit.now - max(limits.message_window, limits.case_window)
    query = select(func.count()).where(
        OutboxMessage.person_id == person.id,
        OutboxMessage.template == NOTICE,
        col(OutboxMessage.created_at) > since,
    )
    return int((await unit.session.exec(query)).one()) > 0
