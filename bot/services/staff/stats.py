"""The three rates over a period, overall or per community or manager (``wolaiban stats``).

The database counts them (``db.aggregates.rate_counts``): the ended cases from the rollup kept with
every step (``db.models.rollup``), the open ones case by case, so a month or a community costs the
same however many cases are stored. The definition is ``core.rates``; tests keep the two equal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from bot.services.cases.routing import zone
from bot.services.unit.context import ServiceContext
from core.rates import Rates
from db.aggregates import GroupBy, rate_counts


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
    async with ctx.db.reading() as session:
        tz = await zone(session)
        start = end = None
        if period.since is not None:
            start = datetime.combine(period.since, time(), tz)
        if period.until is not None:
            end = datetime.combine(period.until + timedelta(days=1), time(), tz)
        return await rate_counts(
            session=session,
            now=now,
            created_from=start,
            created_before=end,
            communities=communities,
            by=by,
        )
