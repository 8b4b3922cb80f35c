"""When a case next needs the clock: the value of its ``next_due_at`` timer column."""

from __future__ import annotations

from datetime import datetime

from core.cases import Status
from core.policy import ServiceLevels


def next_due_at(
    status: Status,
    *,
    now: datetime,
    ack_due_at: datetime,
    resolve_due_at: datetime,
    resolved_at: datetime | None,
    levels: ServiceLevels,
) -> datetime | None:
    """The moment the sweep should next look at a case that has just entered ``status``.

    Unacknowledged: the acknowledge deadline (or one ``ack_within`` from now when that has
    passed, as after a reopen). Acknowledged: the resolve deadline, likewise. Resolved: the
    resident's nudge at half of ``confirm_within``. Unassigned cases wait for staff, who see them
    in the digest; closed ones need nothing.
    """
    match status:
        case Status.ASSIGNED:
            return ack_due_at if ack_due_at > now else now + levels.ack_within
        case Status.ACKNOWLEDGED:
            return resolve_due_at if resolve_due_at > now else now + levels.remind_every
        case Status.RESOLVED:
            return (resolved_at or now) + levels.confirm_within / 2
        case _:
            return None
