"""Counts over many cases, computed by the database (SUM(CASE …) and COUNT, the same on SQLite and
PostgreSQL) rather than row by row in Python.

``recount_rates`` is ``core.rates.compute_rates`` in SQL over every case of a period: core/rates.py
stays the definition, and tests/db/test_aggregates.py checks on varied cases, on both backends,
that the two agree exactly. ``rate_counts`` gives the same figures from the rollup
(``db.models.rollup``) less the shares still ahead of the clock;
tests/services/test_rates_rollup.py checks it equals ``recount_rates`` after random histories
through the use cases.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Date,
    DateTime,
    and_,
    case,
    cast,
    delete,
    func,
    insert,
    inspect,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import Mapped
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from core.cases import OPEN_STATUSES, Rating, Status
from core.rates import NO_CASES, Rates
from db.models import Case
from db.models.rollup import COUNTS, SPANS, UNASSIGNED_KEY
from db.rollup import DAY_ROWS, END_OF_TIME, SPAN_ROWS, midnight, rollup_sums, whole_days
from db.rollup import GroupBy as GroupBy  # the callers' name for it stays here


def _count(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    """How many rows meet ``condition`` (0, not NULL, over no rows)."""
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def rate_columns(now: datetime) -> list[ColumnElement[Any]]:
    """The counts behind ``Rates``, in its field order after ``cases``."""
    status, rating = col(Case.status), col(Case.rating)
    ack_due, acked = col(Case.ack_due_at), col(Case.acknowledged_at)
    closed_at = col(Case.closed_at)
    # Cancelled and rejected cases are not the manager's: in no rate, except a cancellation
    # after the acknowledge deadline passed unanswered (the resident gave up waiting).
    managers = status.not_in([Status.CANCELLED.value, Status.REJECTED.value])
    gave_up = and_(
        status == Status.CANCELLED.value,
        acked.is_(None),
        closed_at.is_not(None),
        closed_at > ack_due,
    )
    responded = and_(managers, acked.is_not(None))
    in_resolution = and_(
        managers, or_(status == Status.CLOSED.value, col(Case.resolve_due_at) <= now)
    )
    not_dissatisfied = func.coalesce(rating, "") != Rating.DISSATISFIED.value
    return [
        _count(and_(responded, acked <= ack_due)),
        _count(or_(responded, and_(managers, ack_due <= now), gave_up)),
        _count(and_(in_resolution, col(Case.resolved_at).is_not(None), not_dissatisfied)),
        _count(in_resolution),
        _count(and_(managers, rating == Rating.SATISFIED.value)),
        _count(and_(managers, rating == Rating.BASICALLY_SATISFIED.value)),
        _count(and_(managers, rating == Rating.DISSATISFIED.value)),
    ]


def _group_key(by: GroupBy) -> ColumnElement[Any] | Mapped[str]:
    if by == "community":
        return col(Case.community_id)
    manager = col(Case.manager_id)
    return case((or_(manager.is_(None), manager == ""), UNASSIGNED_KEY), else_=manager)


async def recount_rates(
    *,
    session: AsyncSession,
    now: datetime,
    created_from: datetime | None = None,
    created_before: datetime | None = None,
    communities: Sequence[str] | None = None,
    by: GroupBy | None = None,
) -> dict[str, Rates]:
    """``rate_counts`` by reading every case of the period: what the rollup must equal (its
    property test's oracle, and the benchmark's "before")."""
    window = _window(created_from, created_before, communities)
    return await _count_cases(session, now, by, window)


async def rate_counts(
    *,
    session: AsyncSession,
    now: datetime,
    created_from: datetime | None = None,
    created_before: datetime | None = None,
    communities: Sequence[str] | None = None,
    by: GroupBy | None = None,
) -> dict[str, Rates]:
    """The rates of the cases created in [``created_from``, ``created_before``), as they stand
    at ``now``: ``{"": all}``, or one entry per community or manager, in key order.

    The period's whole UTC days come from the rollup (``db.models.rollup``: every case's share
    once its deadlines have passed) less the shares whose deadline is still ahead (``_ahead``);
    the pieces of a partial first or last day are counted case by case."""
    days = whole_days(created_from, created_before)
    parts = [
        await _count_cases(session, now, by, _window(start, end, communities))
        for start, end in days.partial
    ]
    if days.whole:
        parts.append(await rollup_sums(session, by, days.first, days.last, communities))
        # PostgreSQL weighs the deadlines ahead against the period's cases from its statistics;
        # SQLite's planner cannot, and would take every case of the period by status: found by
        # deadline there, the creation times checked row by row.
        sqlite = (await session.connection()).dialect.name == "sqlite"
        window = _window(midnight(days.first), midnight(days.last), communities, seek=not sqlite)
        parts += await _ahead(session, now, by, window)
    return _combined(parts, by)


async def _ahead(
    session: AsyncSession, now: datetime, by: GroupBy | None, window: list[ColumnElement[bool]]
) -> list[dict[str, Rates]]:
    """What the rollup counts of the cases of ``window`` that ``now`` does not count yet, with
    the opposite sign: ``settled`` less ``compute_rates`` at ``now``, which is (the only counts
    of a case of the managers that move with the clock) one of the response base for an
    unacknowledged case whose acknowledge deadline is ahead, and one of the resolution base —
    and of the resolved, when resolved and not left dissatisfied — for a case not closed whose
    resolve deadline is ahead. Cancelled and rejected cases do not move with the clock."""
    status = col(Case.status)
    unanswered = [
        status.in_([*(s.value for s in OPEN_STATUSES), Status.CLOSED.value]),
        col(Case.acknowledged_at).is_(None),
        col(Case.ack_due_at) > now,  # a range of each status's deadlines: the recent cases
    ]
    unresolved = [
        status.in_([s.value for s in OPEN_STATUSES]),
        col(Case.resolve_due_at) > now,
    ]
    fixed = and_(
        col(Case.resolved_at).is_not(None),
        func.coalesce(col(Case.rating), "") != Rating.DISSATISFIED.value,
    )
    response = await _grouped(session, by, [func.count()], [*window, *unanswered])
    resolution = await _grouped(session, by, [func.count(), _count(fixed)], [*window, *unresolved])
    return [
        {k: Rates(0, 0, -n, 0, 0, 0, 0, 0) for k, (n,) in response.items()},
        {k: Rates(0, 0, 0, -done, -n, 0, 0, 0) for k, (n, done) in resolution.items()},
    ]


def _window(
    created_from: datetime | None,
    created_before: datetime | None,
    communities: Sequence[str] | None,
    *,
    seek: bool = True,
) -> list[ColumnElement[bool]]:
    """The cases of a period (no merged duplicate: it is its original's problem, counted there);
    ``seek`` False: their creation time is a filter, not a way in."""
    conditions: list[ColumnElement[bool]] = [col(Case.duplicate_of).is_(None)]
    created: ColumnElement[Any] | Mapped[datetime] = col(Case.created_at)
    if not seek:
        # The same value, but no index of the column serves it: SQLite's planner, not knowing
        # how few deadlines are ahead, would read every case of the period by status instead.
        created = func.coalesce(created, created)
    if created_from is not None:
        conditions.append(created >= created_from)
    if created_before is not None:
        conditions.append(created < created_before)
    if communities is not None:
        conditions.append(col(Case.community_id).in_(communities))
    return conditions


async def _count_cases(
    session: AsyncSession, now: datetime, by: GroupBy | None, where: list[ColumnElement[bool]]
) -> dict[str, Rates]:
    """The rates of the cases meeting ``where``, read case by case."""
    counts = await _grouped(session, by, [func.count(), *rate_columns(now)], where)
    return {key: _rates(row) for key, row in counts.items()}


async def _grouped(
    session: AsyncSession,
    by: GroupBy | None,
    columns: list[ColumnElement[Any]],
    where: list[ColumnElement[bool]],
) -> dict[str, Sequence[Any]]:
    """``columns`` over the cases meeting ``where``: ``{"": row}``, or one row per group."""
    key = _group_key(by) if by is not None else None
    query = select(*columns) if key is None else select(key, *columns).group_by(key)
    result = await (await session.connection()).execute(query.where(*where))
    if key is None:
        return {"": tuple(result.one())}
    return {str(row[0]): tuple(row[1:]) for row in result.all()}


def _combined(parts: list[dict[str, Rates]], by: GroupBy | None) -> dict[str, Rates]:
    """The parts added group by group; every group that has a case, in key order."""
    total: dict[str, Rates] = {"": NO_CASES} if by is None else {}
    for part in parts:
        for key, rates in part.items():
            total[key] = total.get(key, NO_CASES).plus(rates)
    # Sorted here, not by ORDER BY: the database's collation may order ids differently.
    return {key: total[key] for key in sorted(total) if by is None or total[key].cases}


def _rates(counts: Sequence[Any]) -> Rates:
    """``Rates`` from the counts of ``rate_counts``'s columns, which are in its field order."""
    return Rates(*(int(count) for count in counts))


def rebuild(connection: Connection) -> int:
    """Build the rollup anew, every tier, from every case stored; return the day rows."""
    days, spans = DAY_ROWS, SPAN_ROWS
    # Migration 0022 builds the day rows with this function, before 0024 adds the other tiers.
    tiered = inspect(connection).has_table(spans.name)
    if tiered:
        connection.execute(delete(spans))
    connection.execute(delete(days))
    c = Case.__table__.c  # type: ignore[attr-defined]
    if connection.dialect.name == "postgresql":
        day: ColumnElement[Any] = cast(func.timezone("UTC", c.created_at), Date)
    else:  # SQLite keeps UTC text; date() reads its date
        day = func.date(c.created_at)
    manager = func.coalesce(func.nullif(c.manager_id, ""), literal(UNASSIGNED_KEY))
    query = (
        select(day, c.community_id, manager, func.count(), *rate_columns(END_OF_TIME))
        .where(c.duplicate_of.is_(None))
        .group_by(day, c.community_id, manager)
    )
    names = ["day", "community_id", "manager_key", *COUNTS]
    result = connection.execute(insert(days).from_select(names, query))
    if tiered:
        _fill_spans(connection)
    return int(result.rowcount or 0)


def _fill_spans(connection: Connection) -> None:
    """Fill the (empty) month rows from the day rows, then the year rows from the month rows."""
    spans, source = SPAN_ROWS, DAY_ROWS
    for span in SPANS:
        if connection.dialect.name == "postgresql":  # a timestamp: no time zone to meet
            at = cast(source.c.day, DateTime)
            start: ColumnElement[Any] = cast(func.date_trunc(span, at), Date)
        else:
            start = func.date(source.c.day, f"start of {span}")
        keys = (start, source.c.community_id, source.c.manager_key)
        query = (
            select(literal(span), *keys, *(func.sum(source.c[name]) for name in COUNTS))
            .where(source.c.cases > 0)  # a row every case left: no month of its own
            .group_by(*keys)
        )
        if source is spans:
            query = query.where(spans.c.span == "month")
        names = ["span", "day", "community_id", "manager_key", *COUNTS]
        connection.execute(insert(spans).from_select(names, query))
        source = spans  # a year is its twelve months: fewer rows than its days
