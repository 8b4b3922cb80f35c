"""The digest chart is drawn in a worker process: the caller never loads matplotlib, and a worker
that fails or hangs costs the chart (with a log line), never the digest's text."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import col, select

from bot.services.cases.report import NewReport, report
from bot.services.digest import chart
from bot.services.digest.chart import PNG_SIGNATURE, Day, draw_chart
from bot.services.digest.daily import send_digest
from bot.services.unit.context import ServiceContext
from core.cases import Channel
from db.models import OutboxMessage
from tests.conftest import Clock

DAYS = [Day("11-27", 3, 1, None, None, None), Day("11-28", 0, 2, 0.5, 1.0, 0.9)]
ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import asyncio, sys
from bot.services.digest.chart import Day, draw_chart
png = asyncio.run(draw_chart([Day("11-28", 1, 0, 1.0, None, 0.9)], "zh"))
print(len(png or b""), "matplotlib" in sys.modules)
"""


def test_the_caller_never_loads_matplotlib() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    size, loaded = done.stdout.split()
    assert int(size) > 10_000
    assert loaded == "False"


async def test_a_chart_comes_back_as_png() -> None:
    png = await draw_chart(DAYS, "en")
    assert png is not None
    assert png.startswith(PNG_SIGNATURE)


async def test_a_worker_that_hangs_is_stopped(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=chart.__name__):
        assert await draw_chart(DAYS, "zh", seconds=0.01) is None
    assert "took over 0.01 s" in caplog.text


async def test_a_failed_worker_costs_the_chart_not_the_digest(
    loaded: ServiceContext,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    new = NewReport("jzsj-south", "parcels", "快递堆在路上", location="172")
    await report(loaded, resident_id="r-jzsj-172", channel=Channel.TELEGRAM, new=new)
    clock.advance(days=1)
    monkeypatch.setattr(sys, "executable", "/bin/false")  # the worker exits 1 at once
    with caplog.at_level(logging.WARNING, logger=chart.__name__):
        message = await send_digest(loaded, person_id="liubo")
    assert message is not None
    assert "嘉州水郡南区社区" in message.text
    assert "digest chart not drawn: the worker exited 1" in caplog.text
    async with loaded.db.reading() as session:
        query = select(OutboxMessage).where(col(OutboxMessage.idempotency_key).contains("digest"))
        rows = (await session.exec(query)).all()
    assert [row.photo for row in rows] == [None]
