"""The database's rate counts equal core.rates.compute_rates, the definition, case for case.

Several hundred cases in every status, with ratings, managers and timestamps drawn from a small grid
around ``NOW`` so that the boundaries (acknowledged exactly at the deadline, a deadline exactly now,
a cancellation exactly at the acknowledge deadline) come up often; on SQLite and PostgreSQL, at
several moments, over periods, per community and per manager.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlmodel import select

from core.cases import Rating, Status
from core.rates import CaseFacts, Rates, compute_rates
from db.aggregates import GroupBy, rate_counts
from db.engine import Database
from db.models import Case

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
STEP = timedelta(minutes=30)
COMMUNITIES = ("north", "south", "east")
MANAGERS = ("mgr-a", "mgr-b", None, "")


def _moment(rng: random.Random) -> datetime:
    """A time on a half-hour grid around NOW, now and then with microseconds."""
    moment = NOW + rng.randint(-6, 6) * STEP
    return (
        moment + timedelta(microseconds=rng.randint(1, 999_999)) if rng.random() < 0.2 else moment
    )


def _maybe(rng: random.Random, share: float) -> datetime | None:
    return _moment(rng) if rng.random() < share else None


def _cases(count: int, seed: int) -> list[Case]:
    rng = random.Random(seed)
    ratings: list[str | None] = [None, None, "", *(r.value for r in Rating)]
    cases = [
        Case(
            status=rng.choice(list(Status)).value,
            community_id=rng.choice(COMMUNITIES),
            category_id="parcels",
            channel="telegram",
            resident_id="r-1",
            manager_id=rng.choice(MANAGERS),
            rating=rng.choice(ratings),
            created_at=NOW - rng.randint(0, 4) * timedelta(days=1) - rng.randint(0, 47) * STEP,
            ack_due_at=_moment(rng),
            acknowledged_at=_maybe(rng, 0.6),
            resolve_due_at=_moment(rng),
            resolved_at=_maybe(rng, 0.5),
            closed_at=_maybe(rng, 0.5),
            updated_at=NOW,
        )
        for _ in range(count)
    ]
    # The exact boundaries, by hand.
    for status in (Status.ASSIGNED, Status.CLOSED, Status.CANCELLED):
        cases.append(
            Case(
                status=status.value,
                community_id="north",
                category_id="parcels",
                channel="sms",
                resident_id="r-2",
                created_at=NOW - timedelta(days=1),
                ack_due_at=NOW,
                acknowledged_at=NOW if status is Status.CLOSED else None,
                resolve_due_at=NOW,
                resolved_at=NOW if status is Status.CLOSED else None,
                closed_at=NOW if status is not Status.ASSIGNED else None,
                rating=Rating.DISSATISFIED.value if status is Status.CLOSED else None,
                updated_at=NOW,
            )
        )
    return cases


def _key(case: Case, by: GroupBy | None) -> str:
    if by is None:
        return ""
    return case.community_id if by == "community" else case.manager_id or "-"


def _by_definition(
    cases: Sequence[Case],
    now: datetime,
    by: GroupBy | None,
    start: datetime | None,
    end: datetime | None,
    communities: Sequence[str] | None,
) -> dict[str, Rates]:
    """What core.rates says of the cases as the database returned them."""
    groups: dict[str, list[CaseFacts]] = defaultdict(list)
    for case in cases:
        if start is not None and case.created_at < start:
            continue
        if end is not None and case.created_at >= end:
            continue
        if communities is not None and case.community_id not in communities:
            continue
        groups[_key(case, by)].append(
            CaseFacts(
                status=Status(case.status),
                ack_due_at=case.ack_due_at,
                acknowledged_at=case.acknowledged_at,
                resolve_due_at=case.resolve_due_at,
                resolved_at=case.resolved_at,
                rating=Rating(case.rating) if case.rating else None,
                closed_at=case.closed_at,
            )
        )
    if by is None:
        return {"": compute_rates(groups.get("", []), now=now)}
    return {key: compute_rates(groups[key], now=now) for key in sorted(groups)}


async def test_the_database_counts_as_core_rates_defines(db: Database) -> None:
    async with db.transaction() as session:
        session.add_all(_cases(600, seed=11))
    async with db.reading() as session:
        stored = list((await session.exec(select(Case))).all())
    assert len({c.status for c in stored}) == len(Status)

    day = timedelta(days=1)
    periods = [(None, None), (NOW - 2 * day, None), (None, NOW - day), (NOW - 3 * day, NOW - day)]
    moments = [NOW - 7 * STEP, NOW - STEP, NOW, NOW + timedelta(microseconds=1), NOW + 7 * STEP]
    checked = 0
    async with db.reading() as session:
        for now in moments:
            for start, end in periods:
                for communities in (None, ["north", "east"], []):
                    for by in (None, "community", "manager"):
                        got = await rate_counts(
                            session=session,
                            now=now,
                            created_from=start,
                            created_before=end,
                            communities=communities,
                            by=by,
                        )
                        wanted = _by_definition(stored, now, by, start, end, communities)
                        assert got == wanted, (now, start, end, communities, by)
                        checked += sum(rates.cases for rates in got.values())
    assert checked > 10_000  # the filters left plenty to count


async def test_no_cases_count_zero_not_null(db: Database) -> None:
    async with db.reading() as session:
        assert await rate_counts(session=session, now=NOW) == {"": compute_rates([], now=NOW)}
        assert await rate_counts(session=session, now=NOW, by="manager") == {}
