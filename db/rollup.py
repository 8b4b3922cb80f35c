"""Reading the rates' rollup (``db.models.rollup``): which whole days of a period it answers,
and its sums over them (``db.aggregates.rebuild`` builds it from the cases already stored).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import func, select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from core.rates import Rates
from db.models import RateRollup
from db.models.rollup import COUNTS, utc_day

GroupBy = Literal["community", "manager"]
# After every deadline: the settled share of a case (core.rates.settled), in SQL.
END_OF_TIME = datetime(9999, 12, 31, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class WholeDays:
    """A period as the rollup sees it: UTC days ``first`` (None: from the start) up to ``last``
    (excluded; None: to the end) when ``whole``, and the parts of days it does not cover."""

    whole: bool
    first: date | None
    last: date | None
    partial: tuple[tuple[datetime | None, datetime | None], ...]


def midnight(day: date | None) -> datetime | None:
    """The UTC midnight that starts ``day`` (None stays None: an open end)."""
    return None if day is None else datetime.combine(day, time(), UTC)


def whole_days(start: datetime | None, end: datetime | None) -> WholeDays:
    """The whole UTC days inside [``start``, ``end``) and the pieces at either edge: a period of
    local days in a zone off UTC begins and ends inside a UTC day."""
    first = last = None
    if start is not None:
        first = utc_day(start)
        if midnight(first) != start:
            first += timedelta(days=1)
    if end is not None:
        last = utc_day(end)
    if first is not None and last is not None and first >= last:
        return WholeDays(False, None, None, ((start, end),))
    edges = ((start, midnight(first)), (midnight(last), end))
    return WholeDays(True, first, last, tuple((a, b) for a, b in edges if a != b))


async def rollup_sums(
    session: AsyncSession,
    by: GroupBy | None,
    first: date | None,
    last: date | None,
    communities: Sequence[str] | None,
) -> dict[str, Rates]:
    """The settled counts of the ended cases created on days [``first``, ``last``)."""
    row = RateRollup
    key: Any = None
    if by == "community":
        key = col(row.community_id)
    elif by == "manager":
        key = col(row.manager_key)
    sums = [func.coalesce(func.sum(getattr(row, name)), 0) for name in COUNTS]
    query = select(*sums) if key is None else select(key, *sums).group_by(key)
    # A row every case left (reopened, merged) holds zeros: no group of its own.
    query = query.where(col(row.cases) > 0)
    if first is not None:
        query = query.where(col(row.day) >= first)
    if last is not None:
        query = query.where(col(row.day) < last)
    if communities is not None:
        query = query.where(col(row.community_id).in_(communities))
    result = await (await session.connection()).execute(query)
    if key is None:
        return {"": Rates(*(int(n) for n in result.one()))}
    return {str(r[0]): Rates(*(int(n) for n in r[1:])) for r in result.all()}
