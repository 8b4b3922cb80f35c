"""The case lifecycle: statuses, actions, who may take them, and the transition table.

Everything here is pure: ``apply`` takes the facts of a case and of the actor and returns either
the new state or a refusal naming the reason (a text-catalog key). Services persist the result.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum


class Status(StrEnum):
    """Where a case stands (docs/reference.md §4)."""

    UNASSIGNED = "unassigned"
    ASSIGNED = "assigned"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    CLOSED = "closed"
    CANCELLED = "cancelled"
    REJECTED = "rejected"

    @property
    def is_open(self) -> bool:
        """True while the case still needs someone to act."""
        return self not in TERMINAL


TERMINAL = frozenset({Status.CLOSED, Status.CANCELLED, Status.REJECTED})
OPEN_STATUSES = tuple(s for s in Status if s not in TERMINAL)


class Rating(StrEnum):
    """The resident's verdict; 1, 2 and 3 on buttons and in SMS."""

    SATISFIED = "satisfied"
    BASICALLY_SATISFIED = "basically_satisfied"
    DISSATISFIED = "dissatisfied"

    @classmethod
    def from_code(cls, code: str) -> Rating | None:
        """Map the codes ``1``/``2``/``3`` to a rating, or None."""
        return _RATING_CODES.get(code)

    @property
    def code(self) -> str:
        """The digit shown on buttons and accepted by SMS."""
        return {v: k for k, v in _RATING_CODES.items()}[self]


_RATING_CODES = {
    "1": Rating.SATISFIED,
    "2": Rating.BASICALLY_SATISFIED,
    "3": Rating.DISSATISFIED,
}


class Action(StrEnum):
    """Something a person (or the clock) asks to do to a case."""

    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"
    DECLINE = "decline"
    RATE = "rate"
    REASSIGN = "reassign"
    REJECT = "reject"
    CLOSE = "close"
    CANCEL = "cancel"
    ESCALATE = "escalate"
    REMIND = "remind"
    NUDGE = "nudge"
    CLOSE_UNRATED = "close_unrated"
    ASK = "ask"  # a question to the reporter; their next message answers it
    REOPEN = "reopen"  # the city reopens a resolved or closed case (Open311 REOPEN)
    INFORM = "inform"  # the city's note on a case, for its holder: it moves nothing


class EventKind(StrEnum):
    """What the audit trail records; one event per change."""

    REPORTED = "reported"
    ROUTED = "routed"
    UNROUTED = "unrouted"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    DECLINED = "declined"
    RATED = "rated"
    REOPENED = "reopened"
    REASSIGNED = "reassigned"
    REJECTED = "rejected"
    CLOSED = "closed"
    CANCELLED = "cancelled"
    ESCALATED = "escalated"
    REMINDED = "reminded"
    NUDGED = "nudged"
    CLOSED_UNRATED = "closed_unrated"
    NOTE = "note"  # staff's internal note: no transition, no announcement, no resident sees it
    FOLLOWED = "followed"  # another resident follows the case instead of reporting it again
    FEEDBACK = "feedback"  # a follower's rating: recorded and shown, it moves nothing
    COMMENTED = "commented"  # a follower's note or photo, for the holder
    MERGED = "merged"  # (on B) staff merged it into another case, which carries it on
    MERGED_IN = "merged_in"  # (on A) another case was merged into this one
    UNMERGED = "unmerged"  # (on B) the merge was undone: B is handled on its own again
    MERGE_UNDONE = "merge_undone"  # (on A) a case merged into this one was taken back out
    ASKED = "asked"  # the holder or staff asked the reporter a question (the note)
    ANSWERED = "answered"  # the reporter's next message answered it (to whoever asked)
    FIX_PHOTO = "fix_photo"  # the resolver sent one more photo of the fix (an album's next)
    INFORMED = "informed"  # the city's note (Open311 ``servicerequestupdates``), for the holder


class Channel(StrEnum):
    """Where an action came from; every event is tagged with one."""

    TELEGRAM = "telegram"
    SMS = "sms"
    CLI = "cli"
    WEB = "web"  # the staff console
    OPEN311 = "open311"  # a city system through GeoReport v2
    SYSTEM = "system"


class Relation(StrEnum):
    """How an actor stands to a case; the basis of every permission."""

    RESIDENT = "resident"  # the person who reported it
    FOLLOWER = "follower"  # another resident who follows it (their rating is feedback)
    ASSIGNEE = "assignee"  # the manager it is routed to
    CHAIN = "chain"  # a supervisor above the assignee
    STAFF = "staff"  # staff of the case's community
    SYSTEM = "system"  # the scheduler
    CITY = "city"  # a city system whose Open311 key covers the case's community (core.access)


@dataclass(frozen=True, slots=True)
class CaseState:
    """The facts of a case that transitions read and write."""

    status: Status
    escalation_level: int = 0
    reopen_count: int = 0
    rating: Rating | None = None
    manager_id: str | None = None
    # Taken on at least once (acknowledged or resolved): from then on the resident may not
    # withdraw it, even when it is back in ``assigned`` after a reopen or a reassignment.
    acknowledged: bool = False


@dataclass(frozen=True, slots=True)
class Rule:
    """One row of the transition table."""

    sources: frozenset[Status]
    target: Status | None  # None: the status stays as it is
    relations: frozenset[Relation]
    event: EventKind


_PEOPLE_WHO_HOLD = frozenset({Relation.ASSIGNEE, Relation.CHAIN})
_ACTIVE = frozenset({Status.ASSIGNED, Status.ACKNOWLEDGED})
_STAFF_OPEN = frozenset({Status.UNASSIGNED, Status.ASSIGNED, Status.ACKNOWLEDGED})

TRANSITIONS: dict[Action, Rule] = {
    Action.ACKNOWLEDGE: Rule(
        frozenset({Status.ASSIGNED}),
        Status.ACKNOWLEDGED,
        _PEOPLE_WHO_HOLD,
        EventKind.ACKNOWLEDGED,
    ),
    # A manager may report "fixed" without pressing acknowledge first.
    Action.RESOLVE: Rule(_ACTIVE, Status.RESOLVED, _PEOPLE_WHO_HOLD, EventKind.RESOLVED),
    Action.DECLINE: Rule(_ACTIVE, Status.UNASSIGNED, _PEOPLE_WHO_HOLD, EventKind.DECLINED),
    # The target of RATE depends on the rating; see ``apply``. A follower's rating is feedback.
    Action.RATE: Rule(
        frozenset({Status.RESOLVED}),
        Status.CLOSED,
        frozenset({Relation.RESIDENT, Relation.FOLLOWER}),
        EventKind.RATED,
    ),
    # The system hands on the cases of someone a directory load retired (they left).
    Action.REASSIGN: Rule(
        _STAFF_OPEN,
        Status.ASSIGNED,
        frozenset({Relation.STAFF, Relation.SYSTEM}),
        EventKind.REASSIGNED,
    ),
    Action.REJECT: Rule(
        _STAFF_OPEN, Status.REJECTED, frozenset({Relation.STAFF}), EventKind.REJECTED
    ),
    # The city that dispatched a case may close it too ("closed by the city").
    Action.CLOSE: Rule(
        frozenset(OPEN_STATUSES),
        Status.CLOSED,
        frozenset({Relation.STAFF, Relation.CITY}),
        EventKind.CLOSED,
    ),
    # The city sends back what was not fixed: the holder takes it on again (see ``apply``).
    Action.REOPEN: Rule(
        frozenset({Status.RESOLVED, Status.CLOSED}),
        Status.ASSIGNED,
        frozenset({Relation.CITY}),
        EventKind.REOPENED,
    ),
    # The city's word on a case reaches its holder whatever the case's status; nothing moves.
    Action.INFORM: Rule(frozenset(Status), None, frozenset({Relation.CITY}), EventKind.INFORMED),
    Action.CANCEL: Rule(
        frozenset({Status.UNASSIGNED, Status.ASSIGNED}),
        Status.CANCELLED,
        frozenset({Relation.RESIDENT}),
        EventKind.CANCELLED,
    ),
    # A question moves nothing: the case waits where it stood for the answer.
    Action.ASK: Rule(
        _STAFF_OPEN,
        None,
        frozenset({Relation.ASSIGNEE, Relation.CHAIN, Relation.STAFF}),
        EventKind.ASKED,
    ),
    Action.ESCALATE: Rule(_ACTIVE, None, frozenset({Relation.SYSTEM}), EventKind.ESCALATED),
    Action.REMIND: Rule(_ACTIVE, None, frozenset({Relation.SYSTEM}), EventKind.REMINDED),
    Action.NUDGE: Rule(
        frozenset({Status.RESOLVED}), None, frozenset({Relation.SYSTEM}), EventKind.NUDGED
    ),
    Action.CLOSE_UNRATED: Rule(
        frozenset({Status.RESOLVED}),
        Status.CLOSED,
        frozenset({Relation.SYSTEM}),
        EventKind.CLOSED_UNRATED,
    ),
}


@dataclass(frozen=True, slots=True)
class Transition:
    """An allowed change: the new state and the event kinds to record, in order."""

    state: CaseState
    events: tuple[EventKind, ...]


@dataclass(frozen=True, slots=True)
class Refusal:
    """A change that is not allowed; ``reason`` is a text-catalog key."""

    reason: str


def apply(
    state: CaseState,
    action: Action,
    relations: frozenset[Relation],
    *,
    rating: Rating | None = None,
    new_manager_id: str | None = None,
    chain_length: int = 3,
) -> Transition | Refusal:
    """Apply ``action`` by an actor standing in ``relations`` to a case in ``state``.

    ``chain_length`` is the number of levels in the escalation chain; escalation stops at its top.
    """
    rule = TRANSITIONS[action]
    if not relations & rule.relations:
        return Refusal("refused.not_entitled")
    if state.status not in rule.sources or not _still_allowed(state, action):
        return Refusal("refused.closed" if not state.status.is_open else "refused.wrong_status")
    top = max(chain_length - 1, 0)
    match action:
        case Action.RATE:
            if rating is None:
                return Refusal("refused.rating_missing")
            if Relation.RESIDENT not in relations:
                # A follower's verdict is heard, but the case closes on its reporter's alone.
                return Transition(state, (EventKind.FEEDBACK,))
            if rating is Rating.DISSATISFIED:
                # 重办: back to the manager, one level higher, counted as a reopen.
                reopened = replace(
                    state,
                    status=Status.ASSIGNED,
                    rating=rating,
                    reopen_count=state.reopen_count + 1,
                    escalation_level=min(state.escalation_level + 1, top),
                )
                return Transition(reopened, (EventKind.RATED, EventKind.REOPENED))
            return Transition(replace(state, status=Status.CLOSED, rating=rating), (rule.event,))
        case Action.ESCALATE:
            if state.escalation_level >= top:
                return Refusal("refused.chain_top")
            return Transition(
                replace(state, escalation_level=state.escalation_level + 1), (rule.event,)
            )
        case Action.REASSIGN:
            if not new_manager_id and Relation.SYSTEM in relations and state.manager_id:
                # Nobody left to route it to: it waits for the community's staff, who are told.
                unrouted = replace(
                    state, status=Status.UNASSIGNED, manager_id=None, escalation_level=0
                )
                return Transition(unrouted, (rule.event, EventKind.UNROUTED))
            if not new_manager_id:
                return Refusal("refused.manager_missing")
            if new_manager_id == state.manager_id and state.status is not Status.UNASSIGNED:
                return Refusal("refused.same_manager")
            return Transition(
                replace(
                    state, status=Status.ASSIGNED, manager_id=new_manager_id, escalation_level=0
                ),
                (rule.event,),
            )
        case Action.ACKNOWLEDGE:
            return Transition(
                replace(state, status=Status.ACKNOWLEDGED, acknowledged=True), (rule.event,)
            )
        case Action.RESOLVE:
            # A new resolution waits for a new verdict: an earlier "not satisfied" no longer stands.
            return Transition(
                replace(state, status=Status.RESOLVED, acknowledged=True, rating=None),
                (rule.event,),
            )
        case Action.DECLINE:
            return Transition(
                replace(state, status=Status.UNASSIGNED, manager_id=None), (rule.event,)
            )
        case Action.REOPEN:
            # Counted as a reopen, its verdict gone with it: a new fix waits for a new rating.
            # A case nobody held (closed from unassigned) goes back to staff.
            target = Status.ASSIGNED if state.manager_id else Status.UNASSIGNED
            reopened = replace(
                state, status=target, rating=None, reopen_count=state.reopen_count + 1
            )
            return Transition(reopened, (rule.event,))
    target = rule.target if rule.target is not None else state.status
    return Transition(replace(state, status=target), (rule.event,))


def allowed_actions(state: CaseState, relations: frozenset[Relation]) -> list[Action]:
    """Actions whose rule admits this status and actor — what buttons to show."""
    return [
        action
        for action, rule in TRANSITIONS.items()
        if state.status in rule.sources
        and relations & rule.relations
        and _still_allowed(state, action)
    ]


def _still_allowed(state: CaseState, action: Action) -> bool:
    """Conditions beyond the status: a resident cancels only what nobody has taken on yet."""
    return not (action is Action.CANCEL and state.acknowledged)
