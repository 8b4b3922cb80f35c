"""The rollup's month and year rows: a period reads whole years and months from them (a local
month as one month row less one day), a rebuild and migration 0024 make them the sums of the
day rows, and one community's open cases of a period are one seek of
``ix_cases_community_status_created_at`` while every community's stay on
``ix_cases_status_created_at``. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from alembic import command
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import event, insert, inspect, select, text
from sqlalchemy.engine import Connection

from core.cases import Status
from db.aggregates import rate_counts, rebuild
from db.engine import Database
from db.migrate import alembic_config, upgrade
from db.models import Case, RateRollup, RateRollupSpan
from db.models.rollup import COUNTS, SPANS, span_start
from db.rollup import BEGINNING, ENDING, Term, plan, whole_days

NOW = datetime(2026, 12, 8, 2, 0, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")
COMMUNITIES = tuple(f"c{n:02}" for n in range(30))
STATUSES = [*[Status.CLOSED] * 6, Status.CANCELLED, Status.REJECTED, Status.ASSIGNED]
DAYS = st.dates(date(2024, 1, 1), date(2028, 12, 31))


def _local(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), SHANGHAI)


def test_a_local_month_reads_one_month_row_less_one_day() -> None:
    # November in Asia/Shanghai: UTC 31 October 16:00 to 30 November 16:00.
    days = whole_days(_local(date(2026, 11, 1)), _local(date(2026, 12, 1)))
    assert (days.first, days.last) == (date(2026, 11, 1), date(2026, 11, 30))
    assert plan(days.first, days.last) == [
        Term("day", date(2026, 11, 30), date(2026, 12, 1), -1),
        Term("month", date(2026, 11, 1), date(2026, 12, 1)),
    ]
    year = whole_days(_local(date(2027, 1, 1)), _local(date(2028, 1, 1)))
    assert plan(year.first, year.last) == [
        Term("day", date(2027, 12, 31), date(2028, 1, 1), -1),
        Term("year", date(2027, 1, 1), date(2028, 1, 1)),
    ]


def test_everything_reads_the_year_rows_and_whole_spans_their_own() -> None:
    assert plan(None, None) == [Term("year", BEGINNING, ENDING)]
    assert plan(date(2026, 1, 1), date(2027, 1, 1)) == [
        Term("year", date(2026, 1, 1), date(2027, 1, 1))
    ]
    assert plan(date(2026, 3, 1), date(2026, 6, 1)) == [
        Term("month", date(2026, 3, 1), date(2026, 6, 1))
    ]
    assert plan(date(2026, 3, 4), date(2026, 3, 9)) == [
        Term("day", date(2026, 3, 4), date(2026, 3, 9))
    ]


@given(first=st.none() | DAYS, length=st.integers(0, 900), open_end=st.booleans())
def test_the_terms_count_every_day_of_the_period_once_and_no_other(
    first: date | None, length: int, open_end: bool
) -> None:
    start = first or date(2024, 1, 1)
    last = None if open_end else start + timedelta(days=length)
    window = (date(2020, 1, 1), date(2032, 1, 1))  # the open ends, for counting
    counted: Counter[date] = Counter()
    terms = plan(first, last)
    assert len(terms) <= 5  # however long: a few ranges of rows, one statement
    for term in terms:
        day, end = max(term.first, window[0]), min(term.last, window[1])
        while day < end:
            counted[day] += term.sign
            day += timedelta(days=1)
    assert all(n in (0, 1) for n in counted.values())
    low, high = first or window[0], last or window[1]
    found = {d for d, n in counted.items() if n}
    assert found == {low + timedelta(days=n) for n in range((high - low).days)}


def _cases(count: int, seed: int) -> list[dict[str, Any]]:
    """Cases over two years and a bit before NOW, most ended, in thirty communities."""
    rng = random.Random(seed)
    rows = []
    for number in range(1, count + 1):
        created = NOW - timedelta(minutes=rng.randint(0, 60 * 24 * 800))
        status = rng.choice(STATUSES)
        ended = status is not Status.ASSIGNED
        rows.append(
            {
                "number": number,
                "status": status.value,
                "community_id": rng.choice(COMMUNITIES),
                "category_id": "parcels",
                "channel": "sms",
                "resident_id": "r-1",
                "manager_id": rng.choice(("mgr-a", "mgr-b", None)),
                "rating": rng.choice((None, "satisfied", "dissatisfied")) if ended else None,
                "duplicate_of": 1 if rng.random() < 0.05 else None,
                "created_at": created,
                "ack_due_at": created + timedelta(minutes=30),
                "acknowledged_at": created + timedelta(minutes=rng.randint(5, 60)),
                "resolve_due_at": created + timedelta(days=1),
                "resolved_at": created + timedelta(hours=rng.randint(1, 40)) if ended else None,
                "closed_at": created + timedelta(days=2) if ended else None,
                "updated_at": created,
            }
        )
    return rows


async def _fill(db: Database, count: int) -> None:
    """``count`` cases stored around the ORM (as a bulk load or an older release leaves them)."""
    async with db.engine.begin() as conn:
        await conn.execute(insert(Case.__table__), _cases(count, seed=26))  # type: ignore[attr-defined]


def _spans_and_day_sums(sync: Connection) -> tuple[dict[Any, tuple[int, ...]], ...]:
    """The month and year rows stored, and the day rows summed per month and year."""
    days = RateRollup.__table__  # type: ignore[attr-defined]
    spans = RateRollupSpan.__table__  # type: ignore[attr-defined]
    sums: dict[Any, tuple[int, ...]] = {}
    for row in sync.execute(select(days)).mappings():
        for span in SPANS:
            key = (span, span_start(span, row["day"]), row["community_id"], row["manager_key"])
            before = sums.get(key, (0,) * len(COUNTS))
            sums[key] = tuple(a + row[name] for a, name in zip(before, COUNTS, strict=True))
    stored = {
        (r["span"], r["day"], r["community_id"], r["manager_key"]): tuple(r[n] for n in COUNTS)
        for r in sync.execute(select(spans)).mappings()
    }
    return stored, {key: counts for key, counts in sums.items() if counts[0]}


async def test_a_rebuild_makes_the_months_and_years_the_sums_of_the_days(db: Database) -> None:
    await _fill(db, 3000)
    async with db.engine.begin() as conn:
        await conn.run_sync(rebuild)
        stored, summed = await conn.run_sync(_spans_and_day_sums)
    assert stored == summed
    assert {key[1].year for key in stored if key[0] == "year"} == {2024, 2025, 2026}
    assert sum(counts[0] for key, counts in stored.items() if key[0] == "year") > 2000


def _schema(sync: Connection) -> tuple[bool, set[str]]:
    found = inspect(sync)
    indexes = {i["name"] for i in found.get_indexes("cases") if i["name"]}
    return found.has_table("rate_rollup_span"), indexes


async def test_0024_fills_the_tiers_from_the_day_rows_and_its_downgrade_removes_them(
    db: Database,
) -> None:
    async with db.engine.begin() as conn:
        await conn.run_sync(lambda sync: command.downgrade(alembic_config(sync), "0023"))
        tiered, indexes = await conn.run_sync(_schema)
    assert not tiered
    assert "ix_cases_community_status_created_at" not in indexes
    await _fill(db, 2000)
    async with db.engine.begin() as conn:
        assert await conn.run_sync(rebuild) > 1000  # the day rows alone, as 0022 builds them
    await upgrade(db)
    async with db.engine.connect() as conn:
        stored, summed = await conn.run_sync(_spans_and_day_sums)
        tiered, indexes = await conn.run_sync(_schema)
    assert stored == summed
    assert len(stored) > 100
    assert tiered
    assert "ix_cases_community_status_created_at" in indexes


async def _ahead_plans(db: Database, communities: list[str] | None) -> dict[str, str]:
    """The plans the database makes for the shares still ahead of the clock in a month, as
    ``rate_counts`` asks (by acknowledge and by resolve deadline)."""
    seen: dict[str, tuple[str, Any]] = {}

    def record(_c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
        for deadline in ("ack_due_at >", "resolve_due_at >"):
            if deadline in statement:  # the corrections; no other part asks it
                seen[deadline.split("_")[0]] = (statement, parameters)

    engine = db.engine.sync_engine
    event.listen(engine, "after_cursor_execute", record)
    try:
        async with db.reading() as session:
            await rate_counts(
                session=session,
                now=NOW,
                created_from=_local(date(2026, 11, 1)),
                created_before=_local(date(2026, 12, 1)),
                communities=communities,
            )
    finally:
        event.remove(engine, "after_cursor_execute", record)
    prefix = "EXPLAIN QUERY PLAN " if db.is_sqlite else "EXPLAIN "
    plans: dict[str, str] = {}
    async with db.engine.connect() as conn:
        for name, (statement, parameters) in seen.items():
            rows = (await conn.exec_driver_sql(prefix + statement, parameters)).all()
            plans[name] = "\n".join(str(row[-1] if db.is_sqlite else row[0]) for row in rows)
    return plans


async def test_the_shares_ahead_of_the_clock_are_a_seek_by_deadline(db: Database) -> None:
    await _fill(db, 6000)
    async with db.engine.begin() as conn:
        await conn.execute(text("ANALYZE"))
    every = await _ahead_plans(db, None)
    assert set(every) == {"ack", "resolve"}
    # Not the open cases of the month one by one: the few whose deadline is after now.
    assert "ix_cases_status_ack_due_at" in every["ack"], every["ack"]
    assert "ix_cases_status_resolve_due_at" in every["resolve"], every["resolve"]
    for found in (await _ahead_plans(db, ["c07"])).values():
        assert "ix_cases_" in found, found
