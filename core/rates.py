"""The three rates of docs/reference.md §5 (response, resolution, satisfaction) from plain case
facts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from core.cases import Rating, Status

# Weight of a "basically satisfied" rating in the satisfaction rate (docs/reference.md §5).
BASICALLY_SATISFIED_WEIGHT = 0.9

# A moment after every deadline: an ended case's share of the rates once nothing about it can
# still change with the clock (``settled``).
_END_OF_TIME = datetime.max.replace(tzinfo=UTC)

# Withdrawn by the resident or turned away by staff: in the count of cases, in no rate — except
# that a resident who withdrew after the acknowledge deadline passed unanswered counts as a case
# the manager did not respond to (they gave up waiting).
_NOT_THE_MANAGERS = frozenset({Status.CANCELLED, Status.REJECTED})


@dataclass(frozen=True, slots=True)
class CaseFacts:
    """What the rates need to know about one case; ``rating`` is the latest one given."""

    status: Status
    ack_due_at: datetime
    acknowledged_at: datetime | None
    resolve_due_at: datetime
    resolved_at: datetime | None
    rating: Rating | None
    closed_at: datetime | None = None
    merged: bool = False  # a duplicate merged into another case: counted there, not here


@dataclass(frozen=True, slots=True)
class Rates:
    """Counts behind the three rates; the rates themselves are derived, None when nothing counts."""

    cases: int
    responded_in_time: int
    response_base: int
    resolved: int
    resolution_base: int
    satisfied: int
    basically_satisfied: int
    dissatisfied: int

    @property
    def rated(self) -> int:
        """Cases that carry a rating of any kind."""
        return self.satisfied + self.basically_satisfied + self.dissatisfied

    @property
    def response_rate(self) -> float | None:
        """Share of due-or-acknowledged cases acknowledged by their deadline."""
        return self.responded_in_time / self.response_base if self.response_base else None

    @property
    def resolution_rate(self) -> float | None:
        """Share of closed-or-overdue cases resolved by the manager and not left dissatisfied."""
        return self.resolved / self.resolution_base if self.resolution_base else None

    @property
    def satisfaction_rate(self) -> float | None:
        """(satisfied + 0.9 × basically satisfied) / rated cases."""
        rated = self.rated
        if not rated:
            return None
        weighted = self.satisfied + BASICALLY_SATISFIED_WEIGHT * self.basically_satisfied
        return weighted / rated

    def plus(self, other: Rates, sign: int = 1) -> Rates:
        """These counts with ``other``'s added (``sign`` -1: taken away), count for count."""
        return Rates(*(a + sign * b for a, b in zip(self.counts(), other.counts(), strict=True)))

    def counts(self) -> tuple[int, ...]:
        """The counts in field order, as the rollup's columns hold them."""
        return (
            self.cases,
            self.responded_in_time,
            self.response_base,
            self.resolved,
            self.resolution_base,
            self.satisfied,
            self.basically_satisfied,
            self.dissatisfied,
        )

    def as_dict(self) -> dict[str, object]:
        """The figures in the shape of ``stats --json``."""
        return {
            "cases": self.cases,
            "response_rate": self.response_rate,
            "resolution_rate": self.resolution_rate,
            "satisfaction_rate": self.satisfaction_rate,
            "response_base": self.response_base,
            "responded_in_time": self.responded_in_time,
            "resolution_base": self.resolution_base,
            "resolved": self.resolved,
            "rated": self.rated,
            "satisfied": self.satisfied,
            "basically_satisfied": self.basically_satisfied,
            "dissatisfied": self.dissatisfied,
        }


def compute_rates(facts: Iterable[CaseFacts], *, now: datetime) -> Rates:
    """Count the three rates over ``facts`` as they stand at ``now``, in one pass."""
    # Locals rather than attribute and global lookups: this loop runs over every case on record.
    # Comparisons use == rather than `is` so plain strings read from a database still match.
    excluded, closed = _NOT_THE_MANAGERS, Status.CLOSED
    satisfied_r = Rating.SATISFIED
    basically_r = Rating.BASICALLY_SATISFIED
    dissatisfied_r = Rating.DISSATISFIED
    cases = in_time = response_base = resolved = resolution_base = 0
    satisfied = basically = dissatisfied = 0
    for fact in facts:
        if fact.merged:
            continue
        cases += 1
        status = fact.status
        # Not the manager's to answer.
        if status in excluded:
            gave_up = fact.closed_at is not None and fact.closed_at > fact.ack_due_at
            if status == Status.CANCELLED and fact.acknowledged_at is None and gave_up:
                response_base += 1
            continue
        acknowledged_at = fact.acknowledged_at
        if acknowledged_at is not None:
            response_base += 1
            if acknowledged_at <= fact.ack_due_at:
                in_time += 1
        elif fact.ack_due_at <= now:
            response_base += 1
        rating = fact.rating
        if status == closed or fact.resolve_due_at <= now:
            resolution_base += 1
            # Closed by staff without the manager's "fixed" leaves resolved_at None: not counted.
            if fact.resolved_at is not None and rating != dissatisfied_r:
                resolved += 1
        if rating == satisfied_r:
            satisfied += 1
        elif rating == basically_r:
            basically += 1
        elif rating == dissatisfied_r:
            dissatisfied += 1
    return Rates(
        cases=cases,
        responded_in_time=in_time,
        response_base=response_base,
        resolved=resolved,
        resolution_base=resolution_base,
        satisfied=satisfied,
        basically_satisfied=basically,
        dissatisfied=dissatisfied,
    )


NO_CASES = Rates(0, 0, 0, 0, 0, 0, 0, 0)


def settled(fact: CaseFacts) -> Rates:
    """An ended case's share of the rates once every deadline of it has passed: fixed for good
    except that a case closed unacknowledged before its acknowledge deadline joins the response
    base only when that deadline passes (``db.aggregates`` counts those few live)."""
    return compute_rates([fact], now=_END_OF_TIME)
