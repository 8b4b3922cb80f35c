"""The SMS report's hot path inserts its case with Core, past the ORM hook that keeps the rates'
rollup: it adds the case's share itself, in the same transaction — the same day, month and year
rows as the general path, and rates equal to the case-by-case recount at any moment."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, select

from bot.services.unit.context import ServiceContext
from db.aggregates import rate_counts, recount_rates
from db.models import RateRollup, RateRollupSpan
from db.models.rollup import COUNTS
from db.rollup import DAY_ROWS, SPAN_ROWS
from tests.services.test_intake_parity import STRANGER, _compare, _first, twins

__all__ = ["twins"]  # the fixture, taken from the parity tests


def _rollup(sync: Connection) -> list[tuple[Any, ...]]:
    """Every rollup row, every tier, in key order."""
    rows: list[tuple[Any, ...]] = []
    for table, model in ((DAY_ROWS, RateRollup), (SPAN_ROWS, RateRollupSpan)):
        keys = list(table.primary_key)
        counts = [table.c[name] for name in COUNTS]
        found = sync.execute(select(*keys, *counts).order_by(*keys)).all()
        rows += [
            (model.__name__, tuple(row[: len(keys)]), tuple(row[len(keys) :])) for row in found
        ]
    return rows


async def test_a_report_down_the_hot_path_keeps_the_rollup_as_the_general_path(
    twins: tuple[ServiceContext, ServiceContext],
) -> None:
    hot = await _compare(twins, STRANGER, setup=lambda ctx: _first(ctx, STRANGER))
    kept = []
    for ctx in twins:
        async with ctx.db.engine.connect() as conn:
            kept.append(await conn.run_sync(_rollup))
    general, hot_rows = kept
    assert hot_rows == general
    # Both reports, still open: a day, a month and a year row holding two cases.
    assert sorted(row[0] for row in hot_rows) == ["RateRollup", "RateRollupSpan", "RateRollupSpan"]
    assert {counts[0] for _, _, counts in hot_rows} == {2}
    # Before and after the acknowledge and the resolve deadlines of both cases.
    start = hot.clock()
    for hours in (0, 1, 4, 26, 24 * 8, 24 * 40):
        now = start + timedelta(hours=hours)
        async with hot.db.reading() as session:
            got = await rate_counts(session=session, now=now)
            assert got == await recount_rates(session=session, now=now), hours
            assert got[""].cases == 2
