"""The three rates as the staff console shows them: per community and per holder for this month,
last month and a chosen range — the figures of ``wolaiban stats`` over the reader's communities —
and each rate day by day over the last 30 days."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from bot.services.cases.routing import zone
from bot.services.staff import stats
from bot.services.staff.listing import Viewer
from bot.services.unit.context import ServiceContext
from core.rates import Rates
from db.directory_cache import directory

DAYS = 30
NOTHING = Rates(0, 0, 0, 0, 0, 0, 0, 0)


@dataclass(frozen=True, slots=True)
class PeriodRates:
    """One period's rates: overall, by community, by holder."""

    period: stats.Period
    overall: Rates
    by_community: dict[str, Rates]
    by_holder: dict[str, Rates]


async def communities_of(ctx: ServiceContext, viewer: Viewer) -> list[str]:
    """The communities whose rates ``viewer`` reads: staff their own; managers and supervisors
    those their routing rules (or the managers below them) serve."""
    if viewer.role == "staff":
        return list(viewer.communities)
    async with ctx.db.reading() as session:
        known = await directory(session)
    holders = {viewer.person_id, *viewer.below}
    return sorted({r.community for r in known.routes if r.manager_id in holders} - {"*"})


async def period_rates(
    ctx: ServiceContext, communities: list[str], period: stats.Period
) -> PeriodRates:
    """The rates of ``period`` over ``communities`` (none: nothing counts)."""
    if not communities:
        return PeriodRates(period, NOTHING, {}, {})
    scope = await _scope(ctx, communities)
    overall = await stats.rates(ctx, period=period, communities=scope)
    by_community = await stats.rates(ctx, period=period, by="community", communities=scope)
    by_holder = await stats.rates(ctx, period=period, by="manager", communities=scope)
    return PeriodRates(period, overall[""], by_community, by_holder)


async def _scope(ctx: ServiceContext, communities: list[str]) -> list[str] | None:
    """``communities``, or None (no filter) when they are every community there is: a district
    office reads all 7,000, and 7,000 ids in each of a page's queries cost more than the rates."""
    async with ctx.db.reading() as session:
        known = await directory(session)
    return None if set(communities) >= set(known.communities) else communities


async def standard_periods(ctx: ServiceContext) -> tuple[stats.Period, stats.Period]:
    """This month (to today) and last month, in local dates."""
    async with ctx.db.reading() as session:
        today = ctx.clock().astimezone(await zone(session)).date()
    first = today.replace(day=1)
    last_month_end = first - timedelta(days=1)
    return stats.Period(first, today), stats.Period(last_month_end.replace(day=1), last_month_end)


async def daily(ctx: ServiceContext, communities: list[str]) -> list[tuple[date, Rates]]:
    """Each of the last 30 days (today last) with the rates of the cases reported that day."""
    async with ctx.db.reading() as session:
        today = ctx.clock().astimezone(await zone(session)).date()
    found: list[tuple[date, Rates]] = []
    scope = await _scope(ctx, communities) if communities else communities
    for back in range(DAYS - 1, -1, -1):
        day = today - timedelta(days=back)
        period = stats.Period(day, day)
        counted = await stats.rates(ctx, period=period, communities=scope)
        found.append((day, counted.get("", NOTHING) if communities else NOTHING))
    return found
