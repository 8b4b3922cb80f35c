"""Open311 service request updates (FixMyStreet's ``servicerequestupdates`` extension) as the
use cases know them: which steps of a case a city hears of, in which of the extension's statuses
(the same for the updates a key reads and those pushed to its endpoint), what a city's update asks
of a case — and the queue of pushes: each published step of a request filed by a key with an
updates URL becomes an outbox row on the ``open311`` channel, in the same transaction as the step
— durable, retried and sent in order per request by the delivery, shaped and signed by the
Open311 adapter when it goes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

from sqlmodel import select

from bot.services.unit.outbox import Outbox
from core.cases import Action, Channel, EventKind, Status
from db.models import Case, CaseEvent, Open311Key, Open311Request


class UpdateStatus(StrEnum):
    """The extension's statuses, as FixMyStreet's client reads them."""

    OPEN = "OPEN"
    INVESTIGATING = "INVESTIGATING"
    IN_PROGRESS = "IN_PROGRESS"
    FIXED = "FIXED"
    CLOSED = "CLOSED"
    DUPLICATE = "DUPLICATE"
    REOPEN = "REOPEN"
    NOT_COUNCILS_RESPONSIBILITY = "NOT_COUNCILS_RESPONSIBILITY"
    NO_FURTHER_ACTION = "NO_FURTHER_ACTION"
    INTERNAL_REFERRAL = "INTERNAL_REFERRAL"


# The steps a city hears of. The rest are the case's own business (an internal note, a
# reminder, a follower, a question to the reporter) or told by another step (a rating of "not
# satisfied" by the reopening that follows it, a routing by the report it completes).
_STEPS: dict[EventKind, UpdateStatus] = {
    EventKind.REPORTED: UpdateStatus.OPEN,
    EventKind.ACKNOWLEDGED: UpdateStatus.IN_PROGRESS,
    EventKind.RESOLVED: UpdateStatus.FIXED,
    EventKind.RATED: UpdateStatus.CLOSED,  # when the rating closed it (see ``update_status``)
    EventKind.CLOSED: UpdateStatus.CLOSED,
    EventKind.CLOSED_UNRATED: UpdateStatus.CLOSED,
    EventKind.REOPENED: UpdateStatus.REOPEN,
    EventKind.MERGED: UpdateStatus.DUPLICATE,
    EventKind.UNMERGED: UpdateStatus.REOPEN,
    EventKind.REJECTED: UpdateStatus.NOT_COUNCILS_RESPONSIBILITY,
    EventKind.CANCELLED: UpdateStatus.NO_FURTHER_ACTION,
    EventKind.DECLINED: UpdateStatus.INTERNAL_REFERRAL,
    EventKind.REASSIGNED: UpdateStatus.INTERNAL_REFERRAL,
    EventKind.ESCALATED: UpdateStatus.INVESTIGATING,
}
PUBLISHED = frozenset(kind.value for kind in _STEPS)  # the event kinds that may be updates


def update_status(kind: str, data: Mapping[str, Any] | None) -> UpdateStatus | None:
    """The update a step of kind ``kind`` (its event ``data``: the status it left) is to a
    city, or None when it is none of the city's business."""
    try:
        status = _STEPS.get(EventKind(kind))
    except ValueError:
        return None
    left = (data or {}).get("status")
    if kind == EventKind.RATED.value and left != Status.CLOSED.value:
        return None  # "not satisfied": the reopening that follows is the update
    return status


# What a city's update asks of a case (FixMyStreet posts OPEN or CLOSED, newer clients the
# others too): CLOSED closes an open case, OPEN or REOPEN takes a resolved or closed one back;
# any other status, or one the case already stands in, is the city's note for its holder.
_REOPENABLE = frozenset({Status.RESOLVED, Status.CLOSED})


def city_action(status: UpdateStatus, case_status: Status) -> Action:
    """The action a city's update of ``status`` is on a case in ``case_status``."""
    if status is UpdateStatus.CLOSED and case_status.is_open:
        return Action.CLOSE
    if status in (UpdateStatus.OPEN, UpdateStatus.REOPEN) and case_status in _REOPENABLE:
        return Action.REOPEN
    return Action.INFORM


TEMPLATE = "open311.update"


def address_of(key_id: int, number: int) -> str:
    """Where an update goes: the key's endpoint, for one request (the delivery's order scope)."""
    return f"{key_id}:{number}"


def parse_address(address: str) -> tuple[int, int] | None:
    """The key and request an update's address names, or None for one that names neither."""
    key, _, number = address.partition(":")
    return (int(key), int(number)) if key.isdigit() and number.isdigit() else None


async def queue(outbox: Outbox, case: Case, events: Iterable[CaseEvent]) -> None:
    """Queue the published steps among ``events`` for the endpoint of the key that filed
    ``case``; nothing for a case filed otherwise, or by a key without an endpoint."""
    published = [e for e in events if update_status(e.kind, e.data) is not None]
    if case.channel != Channel.OPEN311.value or not published or case.number is None:
        return
    session = outbox.session
    filed = await session.get(Open311Request, case.number)
    if filed is None:
        return
    query = select(Open311Key).where(Open311Key.name == filed.key_name)
    key = (await session.exec(query)).first()
    if key is None or key.id is None or not key.updates_url or key.revoked_at is not None:
        return
    for event in published:
        status = update_status(event.kind, event.data)
        assert status is not None
        assert event.id is not None
        row = outbox.row(
            key=f"case:{case.number}:event:{event.id}:open311",
            channel=Channel.OPEN311.value,
            address=address_of(key.id, case.number),
            person_id=None,
            case_number=case.number,
            template=TEMPLATE,
            params={"event": event.id},
            language=outbox.default_language,
            text=status.value,
            buttons=(),
            urgent=False,
        )
        session.add(row)
