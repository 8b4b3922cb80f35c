"""Reading the rates' rollup (``db.models.rollup``): which whole days of a period it answers,
and its sums over them (``db.aggregates.rebuild`` builds it from the cases already stored).

A period of days is read from as few rows as its tiers allow: whole years from the year rows,
whole months from the month rows, the rest from the days — and, sums being additive, a month
(or year) nearly covered as the month less its missing days: a local month in Asia/Shanghai is
UTC days 1 to n-1 (plus pieces of two days), one month row less one day, not 29 days.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, Table, func, select, union_all
from sqlmodel.ext.asyncio.session import AsyncSession

from core.rates import NO_CASES, Rates
from db.models import RateRollup, RateRollupSpan
from db.models.rollup import COUNTS, SPANS, span_start, utc_day

GroupBy = Literal["community", "manager"]
# After every deadline: the settled share of a case (core.rates.settled), in SQL.
END_OF_TIME = datetime(9999, 12, 31, tzinfo=UTC)
Tier = Literal["day", "month", "year"]
TIERS: tuple[Tier, ...] = ("day", *SPANS)  # finest first
DAY_ROWS: Table = RateRollup.__table__  # type: ignore[attr-defined]
SPAN_ROWS: Table = RateRollupSpan.__table__  # type: ignore[attr-defined]
# An open end, as a day that starts a year (and a month): no row lies before or after them.
BEGINNING, ENDING = date(1, 1, 1), date(9999, 1, 1)


@dataclass(frozen=True, slots=True)
class Term:
    """The rows of ``tier`` starting on days [``first``, ``last``), added (``sign`` 1) or taken
    away (-1)."""

    tier: Tier
    first: date
    last: date
    sign: int = 1


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


def plan(first: date | None, last: date | None) -> list[Term]:
    """The tiers' rows whose signed sum is days [``first``, ``last``) (None: open), the fewest."""
    # Clamped: no case is created in the year 9999, and the next year is past ``date.max``.
    low, high = min(first or BEGINNING, ENDING), min(last or ENDING, ENDING)
    found = _cover(low, high, len(TIERS) - 1)[1]
    merged: list[Term] = []
    for term in sorted(found, key=lambda t: (TIERS.index(t.tier), t.sign, t.first)):
        before = merged[-1] if merged else None
        if before and (before.tier, before.sign, before.last) == (term.tier, term.sign, term.first):
            merged[-1] = Term(term.tier, before.first, term.last, term.sign)
        else:
            merged.append(term)
    return merged


Cover = tuple[int, list[Term]]  # how many tier units it reads, and its terms


def _cover(first: date, last: date, level: int) -> Cover:
    """Days [``first``, ``last``) from the tiers up to ``TIERS[level]``, the fewest units read:
    each edge that is not whole either in finer units, or as its whole unit less the rest."""
    if first >= last:
        return 0, []
    tier = TIERS[level]
    if tier == "day":
        return (last - first).days, [Term(tier, first, last)]
    low, high = span_start(tier, first), span_start(tier, last)
    low_end = first if low == first else _next(tier, low)
    high_end = last if high == last else _next(tier, high)
    if low_end > high:  # inside one unit
        inward = _cover(first, last, level - 1)
        less = _less(_cover(low, first, level - 1), _cover(last, low_end, level - 1))
        return min(inward, _plus((1, [Term(tier, low, low_end)]), less), key=_units)
    left = min(
        _cover(first, low_end, level - 1),
        _plus((1, [Term(tier, low, low_end)]), _less(_cover(low, first, level - 1))),
        key=_units,
    )
    right = min(
        _cover(high, last, level - 1),
        _plus((1, [Term(tier, high, high_end)]), _less(_cover(last, high_end, level - 1))),
        key=_units,
    )
    middle = (_count(tier, low_end, high), [Term(tier, low_end, high)] if low_end < high else [])
    return _plus(left, middle, right)


def _next(tier: Tier, start: date) -> date:
    """The first day of the month or year after the one starting on ``start``."""
    if tier == "year":
        return start.replace(year=start.year + 1)
    return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)


def _count(tier: Tier, first: date, last: date) -> int:
    """How many months or years start on days [``first``, ``last``) (both their first days)."""
    years = last.year - first.year
    return years if tier == "year" else 12 * years + last.month - first.month


def _units(cover: Cover) -> int:
    return cover[0]


def _plus(*covers: Cover) -> Cover:
    return sum(c[0] for c in covers), [term for c in covers for term in c[1]]


def _less(*covers: Cover) -> Cover:
    """The covers taken away: their units still read, their terms with the opposite sign."""
    total = _plus(*covers)
    return total[0], [Term(t.tier, t.first, t.last, -t.sign) for t in total[1]]


async def rollup_sums(
    session: AsyncSession,
    by: GroupBy | None,
    first: date | None,
    last: date | None,
    communities: Sequence[str] | None,
) -> dict[str, Rates]:
    """The settled counts of the ended cases created on days [``first``, ``last``)."""
    terms = plan(first, last)
    if not terms:
        return {"": NO_CASES} if by is None else {}
    rows = union_all(*(_rows(term, by, communities) for term in terms)).subquery()
    sums = [func.coalesce(func.sum(rows.c[name]), 0) for name in COUNTS]
    query = select(*sums)
    if by is not None:
        # A group whose rows add up to no case (every case left it) has no entry.
        query = select(rows.c.group_key, *sums).group_by(rows.c.group_key)
        query = query.having(func.sum(rows.c.cases) > 0)
    result = await (await session.connection()).execute(query)
    if by is None:
        return {"": Rates(*(int(n) for n in result.one()))}
    return {str(r[0]): Rates(*(int(n) for n in r[1:])) for r in result.all()}


def _rows(term: Term, by: GroupBy | None, communities: Sequence[str] | None) -> Select[Any]:
    """The rows of one term: its group key and counts, signed."""
    table = DAY_ROWS if term.tier == "day" else SPAN_ROWS
    counts = [(table.c[n] if term.sign > 0 else -table.c[n]).label(n) for n in COUNTS]
    keys: list[ColumnElement[Any]] = []
    if by is not None:
        keys.append(
            table.c["community_id" if by == "community" else "manager_key"].label("group_key")
        )
    # A row every case left (reopened, merged) holds zeros: it adds nothing.
    query = select(*keys, *counts).where(table.c.cases > 0)
    if term.tier != "day":
        query = query.where(table.c.span == term.tier)
    if term.first != BEGINNING:
        query = query.where(table.c.day >= term.first)
    if term.last != ENDING:
        query = query.where(table.c.day < term.last)
    if communities is not None:
        query = query.where(table.c.community_id.in_(communities))
    return query
