"""When a case next needs the clock: the value of its ``next_due_at`` timer column."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

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


class Step(StrEnum):
    """What the clock does to a case whose timer has run out."""

    REMIND = "remind"
    ESCALATE = "escalate"
    NUDGE = "nudge"
    CLOSE_UNRATED = "close_unrated"
    WAIT = "wait"  # quiet hours: the step waits for them to end


def step_for(
    status: Status,
    *,
    reminders_sent: int,
    escalation_level: int,
    chain_length: int,
    levels: ServiceLevels,
    quiet_until: datetime | None,
) -> Step | None:
    """The step a due case takes now: reminders until ``escalate_after`` of them, then one level
    up the chain (where reminders start over); a resolved case is nudged once, then closed
    unrated. Outside urgent categories, reminders and escalations wait out the quiet hours."""
    match status:
        case Status.ASSIGNED | Status.ACKNOWLEDGED:
            if quiet_until is not None and not levels.urgent:
                return Step.WAIT
            at_top = escalation_level >= chain_length - 1
            if reminders_sent >= levels.escalate_after and not at_top:
                return Step.ESCALATE
            return Step.REMIND
        case Status.RESOLVED if reminders_sent == 0:
            return Step.WAIT if quiet_until is not None and not levels.urgent else Step.NUDGE
        case Status.RESOLVED:
            return Step.CLOSE_UNRATED
        case _:
            return None
