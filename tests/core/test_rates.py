"""The three rates of docs/reference.md §5 over a hand-worked set of cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.cases import Rating, Status
from core.rates import CaseFacts, Rates, compute_rates

NOW = datetime(2024, 6, 10, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
MIN = timedelta(minutes=1)


def fact(
    status: Status,
    *,
    ack_due_at: datetime,
    acknowledged_at: datetime | None = None,
    resolve_due_at: datetime,
    resolved_at: datetime | None = None,
    rating: Rating | None = None,
) -> CaseFacts:
    """CaseFacts with keywords, so each case below reads as a sentence."""
    return CaseFacts(status, ack_due_at, acknowledged_at, resolve_due_at, resolved_at, rating)


# Eleven cases; the comment after each says where it counts.
#   response:   base = acknowledged or ack_due_at <= now; in time = acknowledged by ack_due_at
#   resolution: base = closed or resolve_due_at <= now;   counted = resolved_at and not dissatisfied
CASES = [
    # A closed, satisfied, acknowledged in time. response base+in time; resolution base+resolved.
    fact(
        Status.CLOSED,
        ack_due_at=NOW - 10 * DAY,
        acknowledged_at=NOW - 10 * DAY - 10 * MIN,
        resolve_due_at=NOW - 7 * DAY,
        resolved_at=NOW - 8 * DAY,
        rating=Rating.SATISFIED,
    ),
    # B closed, basically satisfied, acknowledged 5 minutes late. response base only;
    # resolution base+resolved.
    fact(
        Status.CLOSED,
        ack_due_at=NOW - 9 * DAY,
        acknowledged_at=NOW - 9 * DAY + 5 * MIN,
        resolve_due_at=NOW - 6 * DAY,
        resolved_at=NOW - 7 * DAY,
        rating=Rating.BASICALLY_SATISFIED,
    ),
    # C closed unrated after confirm_within. response base+in time; resolution base+resolved;
    # not rated.
    fact(
        Status.CLOSED,
        ack_due_at=NOW - 8 * DAY,
        acknowledged_at=NOW - 8 * DAY - MIN,
        resolve_due_at=NOW - 5 * DAY,
        resolved_at=NOW - 6 * DAY,
    ),
    # D reopened (dissatisfied), open again and past its resolve deadline. response base+in time;
    # resolution base only (dissatisfied); rated dissatisfied.
    fact(
        Status.ASSIGNED,
        ack_due_at=NOW - 5 * DAY,
        acknowledged_at=NOW - 5 * DAY - 20 * MIN,
        resolve_due_at=NOW - DAY,
        resolved_at=NOW - 3 * DAY,
        rating=Rating.DISSATISFIED,
    ),
    # E closed by staff, the manager never acknowledged nor resolved; resolve deadline still ahead.
    # response base only (overdue); resolution base only (closed, resolved_at None).
    fact(
        Status.CLOSED,
        ack_due_at=NOW - 2 * DAY,
        resolve_due_at=NOW + DAY,
    ),
    # F fresh, both deadlines ahead. Nowhere.
    fact(Status.ASSIGNED, ack_due_at=NOW + 20 * MIN, resolve_due_at=NOW + 3 * DAY),
    # G acknowledged exactly at the deadline (counts as in time), resolve deadline ahead.
    # response base+in time; not in resolution.
    fact(
        Status.ACKNOWLEDGED,
        ack_due_at=NOW - DAY,
        acknowledged_at=NOW - DAY,
        resolve_due_at=NOW + 2 * DAY,
    ),
    # H cancelled by the resident while overdue. Only in `cases`.
    fact(Status.CANCELLED, ack_due_at=NOW - DAY, resolve_due_at=NOW - DAY),
    # I rejected by staff after a dissatisfied rating. Only in `cases`, not even in `rated`.
    fact(
        Status.REJECTED,
        ack_due_at=NOW - 4 * DAY,
        acknowledged_at=NOW - 4 * DAY - MIN,
        resolve_due_at=NOW - DAY,
        resolved_at=NOW - 2 * DAY,
        rating=Rating.DISSATISFIED,
    ),
    # J ignored: never acknowledged, both deadlines passed. response and resolution base only.
    fact(Status.ASSIGNED, ack_due_at=NOW - 3 * DAY, resolve_due_at=NOW - MIN),
    # K resolved, waiting for the resident past the resolve deadline. response base+in time;
    # resolution base+resolved.
    fact(
        Status.RESOLVED,
        ack_due_at=NOW - 4 * DAY,
        acknowledged_at=NOW - 4 * DAY - MIN,
        resolve_due_at=NOW - DAY,
        resolved_at=NOW - 2 * DAY,
    ),
]


def test_rates_on_the_hand_worked_set() -> None:
    rates = compute_rates(CASES, now=NOW)
    # cases: all eleven, H and I included.
    assert rates.cases == 11
    # response base A B C D E G J K = 8; in time A C D G K = 5.
    assert (rates.response_base, rates.responded_in_time) == (8, 5)
    assert rates.response_rate == pytest.approx(5 / 8)
    # resolution base A B C D E J K = 7; resolved A B C K = 4.
    assert (rates.resolution_base, rates.resolved) == (7, 4)
    assert rates.resolution_rate == pytest.approx(4 / 7)
    # rated A (satisfied), B (basically), D (dissatisfied) = 3: (1 + 0.9) / 3.
    assert (rates.satisfied, rates.basically_satisfied, rates.dissatisfied) == (1, 1, 1)
    assert rates.rated == 3
    assert rates.satisfaction_rate == pytest.approx(1.9 / 3)


def test_basically_satisfied_weighs_nine_tenths() -> None:
    closed = [
        fact(
            Status.CLOSED,
            ack_due_at=NOW - DAY,
            acknowledged_at=NOW - DAY,
            resolve_due_at=NOW,
            resolved_at=NOW - MIN,
            rating=rating,
        )
        for rating in (Rating.BASICALLY_SATISFIED, Rating.BASICALLY_SATISFIED)
    ]
    assert compute_rates(closed, now=NOW).satisfaction_rate == pytest.approx(0.9)


def test_deadline_reached_exactly_now_enters_the_base() -> None:
    due_now = fact(Status.ASSIGNED, ack_due_at=NOW, resolve_due_at=NOW)
    rates = compute_rates([due_now], now=NOW)
    assert (rates.response_base, rates.responded_in_time) == (1, 0)
    assert (rates.resolution_base, rates.resolved) == (1, 0)
    assert rates.response_rate == 0.0
    assert rates.resolution_rate == 0.0


def test_rates_are_none_for_an_empty_set() -> None:
    rates = compute_rates([], now=NOW)
    assert rates == Rates(0, 0, 0, 0, 0, 0, 0, 0)
    assert rates.response_rate is None
    assert rates.resolution_rate is None
    assert rates.satisfaction_rate is None


def test_rates_are_none_while_nothing_counts_yet() -> None:
    fresh = fact(Status.ASSIGNED, ack_due_at=NOW + 30 * MIN, resolve_due_at=NOW + 3 * DAY)
    rates = compute_rates([fresh], now=NOW)
    assert rates.cases == 1
    assert rates.response_rate is None
    assert rates.resolution_rate is None
    assert rates.satisfaction_rate is None


def test_cancelled_and_rejected_alone_count_in_no_rate() -> None:
    withdrawn = [CASES[7], CASES[8]]  # H cancelled, I rejected
    rates = compute_rates(withdrawn, now=NOW)
    assert rates == Rates(2, 0, 0, 0, 0, 0, 0, 0)


def test_compute_rates_reads_its_input_once() -> None:
    # A generator can be walked only once; a second pass would see no cases.
    rates = compute_rates((case for case in CASES), now=NOW)
    assert rates == compute_rates(CASES, now=NOW)
    assert rates.cases == 11


def test_as_dict_is_the_stats_json_shape() -> None:
    assert compute_rates(CASES, now=NOW).as_dict() == {
        "cases": 11,
        "response_rate": pytest.approx(5 / 8),
        "resolution_rate": pytest.approx(4 / 7),
        "satisfaction_rate": pytest.approx(1.9 / 3),
        "response_base": 8,
        "responded_in_time": 5,
        "resolution_base": 7,
        "resolved": 4,
        "rated": 3,
        "satisfied": 1,
        "basically_satisfied": 1,
        "dissatisfied": 1,
    }
    assert compute_rates([], now=NOW).as_dict()["satisfaction_rate"] is None


def test_a_resident_who_gave_up_waiting_counts_against_the_response_rate() -> None:
    reported = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
    due = reported + timedelta(minutes=30)

    def cancelled(at: datetime) -> CaseFacts:
        return CaseFacts(
            status=Status.CANCELLED,
            ack_due_at=due,
            acknowledged_at=None,
            resolve_due_at=reported + timedelta(hours=72),
            resolved_at=None,
            rating=None,
            closed_at=at,
        )

    now = reported + timedelta(hours=5)
    # withdrawn 10 minutes in: nobody was late yet, it counts in no rate
    early = compute_rates([cancelled(reported + timedelta(minutes=10))], now=now)
    assert (early.cases, early.response_base, early.response_rate) == (1, 0, None)
    # withdrawn after an hour of silence: one case not responded to in time
    late = compute_rates([cancelled(reported + timedelta(hours=1))], now=now)
    assert (late.response_base, late.responded_in_time, late.response_rate) == (1, 0, 0.0)
    assert late.resolution_base == 0
