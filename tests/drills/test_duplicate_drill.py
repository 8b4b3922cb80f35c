"""The duplicate drill, scaled down: every update, SMS and button press delivered three times
leaves exactly what delivering each once leaves — no duplicate case, event or message."""

from __future__ import annotations

import pytest

from bench import duplicates
from tests.conftest import BACKENDS, POSTGRES_URL


@pytest.mark.parametrize("backend", BACKENDS)
async def test_three_deliveries_change_nothing_more_than_one(backend: str) -> None:
    tripled, once = await duplicates.bench(
        telegram_residents=3,
        sms_residents=3,
        copies=3,
        postgres=POSTGRES_URL if backend == "postgres" else None,
    )
    details = f"{duplicates.describe(once)}\n{duplicates.describe(tripled)}"
    assert once.cases == tripled.cases == 6, details
    assert (once.failures, tripled.failures) == ([], []), details
    for row in duplicates.rows(tripled, once):
        assert row.passed is not False, f"{row.figure}: {row.value} vs {row.baseline}\n{details}"
