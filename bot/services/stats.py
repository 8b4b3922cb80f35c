"""The three rates over a period, overall or per community or manager (``wolaiban stats``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import select
from sqlmodel import col

from core.cases import Rating, Status
from core.rates import CaseFacts, Rates, compute_rates
from db.models import Case

from .context import ServiceContext
from .levels import zone

GroupBy = Literal["community", "manager"]
UNASSIGNED_KEY = "-"


@dataclass(frozen=True, slots=True)
class Period:
    """Reports made from ``since`` to ``until`` (local dates, both included); None is open."""

    since: date | None = None
    until: date | None = None


async def rates(
    ctx: ServiceContext,
    *,
    period: Period = Period(),
    by: GroupBy | None = None,
    communities: Sequence[str] | None = None,
) -> dict[str, Rates]:
    """Rates of the cases reported in ``period``: ``{"": all}`` or one entry per group key."""
    now = ctx.clock()
    query = select(
        *(
            col(column)
            for column in (
                Case.status,
                Case.ack_due_at,
                Case.acknowledged_at,
                Case.resolve_due_at,
                Case.resolved_at,
                Case.rating,
                Case.community_id,
                Case.manager_id,
                Case.closed_at,
            )
        )
    )
    async with ctx.db.reading() as session:
        tz = await zone(session)
        if period.since is not None:
            start = datetime.combine(period.since, time(), tz)
            query = query.where(col(Case.created_at) >= start)
        if communities is not None:
            query = query.where(col(Case.community_id).in_(communities))
        if period.until is not None:
            end = datetime.combine(period.until + timedelta(days=1), time(), tz)
            query = query.where(col(Case.created_at) < end)
        rows: Sequence[Any] = (await (await session.connection()).execute(query)).all()
    groups: dict[str, list[CaseFacts]] = defaultdict(list)
    for status, ack_due, acked, resolve_due, resolved, rating, community, manager, closed in rows:
        key = "" if by is None else (community if by == "community" else manager or UNASSIGNED_KEY)
        groups[key].append(
            CaseFacts(
                status=Status(status),
                ack_due_at=ack_due,
                acknowledged_at=acked,
                resolve_due_at=resolve_due,
                resolved_at=resolved,
                rating=Rating(rating) if rating else None,
                closed_at=closed,
            )
        )
    if by is None:
        return {"": compute_rates(groups.get("", []), now=now)}
    return {key: compute_rates(groups[key], now=now) for key in sorted(groups)}
