"""The offer of open cases to follow is one backward range scan of ``ix_cases_suggest`` on
SQLite, whether the report names a building or not (no scan of a community's open cases, no
sort): SQLite plans without statistics, as the product runs it (bench/suggest.py has the times)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.services.cases.following import suggestion_query
from db.engine import open_database
from db.migrate import upgrade
from sandbox.harness import sqlite_url
from tests.db.test_outbox_indexes import _plan

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("building", ["172", ""], ids=["a building", "no building"])
async def test_the_offer_reads_one_range_of_its_index(tmp_path: Path, building: str) -> None:
    db = open_database(sqlite_url(tmp_path / "wolaiban.db"))
    try:
        await upgrade(db)
        query = suggestion_query(
            community_id="jzsj-south",
            category_id="parcels",
            building=building,
            since=NOW - timedelta(days=3),
            exclude_resident="r-1",
        )
        compiled = query.compile(db.engine.sync_engine)
        plan = await _plan(db, query, compiled.params)
    finally:
        await db.dispose()
    assert "USING INDEX ix_cases_suggest" in plan, plan
    assert "TEMP B-TREE" not in plan, plan
