"""Counts over many cases, computed by the database (SUM(CASE …) and COUNT, the same on SQLite and
PostgreSQL) rather than row by row in Python.

``rate_counts`` is ``core.rates.compute_rates`` in SQL: core/rates.py stays the definition, and
tests/db/test_aggregates.py checks on varied cases, on both backends, that the two agree exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Mapped
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from core.cases import Rating, Status
from core.rates import Rates
from db.models import Case

GroupBy = Literal["community", "manager"]
UNASSIGNED_KEY = "-"  # the group of cases no manager holds


def _count(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    """How many rows meet ``condition`` (0, not NULL, over no rows)."""
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _rate_columns(now: datetime) -> list[ColumnElement[Any]]:
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
    at ``now``: ``{"": all}``, or one entry per community or manager, in key order."""
    key = _group_key(by) if by is not None else None
    columns = [func.count(), *_rate_columns(now)]
    query = select(*columns) if key is None else select(key, *columns).group_by(key)
    # A merged duplicate is its original's problem, counted there: it counts in nothing.
    query = query.where(col(Case.duplicate_of).is_(None))
    if created_from is not None:
        query = query.where(col(Case.created_at) >= created_from)
    if created_before is not None:
        query = query.where(col(Case.created_at) < created_before)
    if communities is not None:
        query = query.where(col(Case.community_id).in_(communities))
    result = await (await session.connection()).execute(query)
    if key is None:
        return {"": _rates(result.one())}
    # Sorted here, not by ORDER BY: the database's collation may order ids differently.
    rows = sorted(result.all(), key=lambda row: str(row[0]))
    return {str(row[0]): _rates(row[1:]) for row in rows}


def _rates(counts: Sequence[Any]) -> Rates:
    """``Rates`` from the counts of ``rate_counts``'s columns, which are in its field order."""
    return Rates(*(int(count) for count in counts))
