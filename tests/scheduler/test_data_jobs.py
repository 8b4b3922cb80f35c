"""The daily data jobs: retention runs once a day whichever instance wakes first (a run stopped
with the process is not counted done), a day taken by a process that died or ran out of its lease
is taken over, the jobs follow the settings, and the backup job makes the day's backup once."""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, timedelta
from pathlib import Path

from sqlalchemy import insert
from sqlmodel import func, select

from bot.services.data.daily import LEASE, day_done, take_day
from bot.services.data.retention import BATCH, Retention
from bot.services.unit.context import ServiceContext
from bot.services.unit.inbound import Inbound
from bot.services.unit.work import unit_of_work
from db.models import InboundReceipt
from sandbox.harness import eventually, run_settings
from scheduler.jobs import Clockwork, DataJobs
from tests.conftest import Clock

RECEIPTS_ONLY = DataJobs(Retention(0, 30, 0, 0, 0))
A, B = "host-a:101", "host-b:202"  # two instances on two machines: neither is judged gone


def clockwork(ctx: ServiceContext, data: DataJobs | None = RECEIPTS_ONLY) -> Clockwork:
    return Clockwork(ctx, tz=UTC, sweep_seconds=60, on_work=lambda: None, digests=False, data=data)


async def _receipts(ctx: ServiceContext) -> int:
    async with ctx.db.reading() as session:
        return int((await session.exec(select(func.count()).select_from(InboundReceipt))).one())


async def _receipt(ctx: ServiceContext, external_id: str) -> None:
    async with unit_of_work(ctx, Inbound("sms", external_id, address="+8613700000001")):
        pass


async def test_retention_runs_once_a_day(loaded: ServiceContext, clock: Clock) -> None:
    start = clock.now
    await _receipt(loaded, "SM-1")
    clock.advance(days=31)
    await clockwork(loaded).retention()
    assert await _receipts(loaded) == 0

    today = clock.now
    clock.now = start  # a receipt as old as the first, written after today's run
    await _receipt(loaded, "SM-2")
    clock.now = today + timedelta(hours=1)
    await clockwork(loaded).retention()  # another instance, the same day: already done
    assert await _receipts(loaded) == 1
    clock.advance(days=1)
    await clockwork(loaded).retention()
    assert await _receipts(loaded) == 0


async def test_a_day_is_taken_by_one_instance_until_done_or_its_lease_runs_out(
    loaded: ServiceContext, clock: Clock
) -> None:
    today = clock.now.date()
    assert await take_day(loaded, job="j", day=today, holder=A)
    assert not await take_day(loaded, job="j", day=today, holder=B)  # A is on it
    clock.advance(seconds=LEASE.total_seconds() + 1)
    assert await take_day(loaded, job="j", day=today, holder=B)  # A went silent: B takes over
    assert await take_day(loaded, job="j", day=today, holder=A, gone=lambda h: h == B)
    await day_done(loaded, job="j", day=today, holder=B)  # B was no longer the holder
    assert not await take_day(loaded, job="j", day=today, holder=B)
    await day_done(loaded, job="j", day=today, holder=A)
    clock.advance(seconds=LEASE.total_seconds() + 1)
    assert not await take_day(loaded, job="j", day=today, holder=B)  # done: not again that day
    assert await take_day(loaded, job="j", day=today + timedelta(days=1), holder=B)
    assert await take_day(loaded, job="other", day=today, holder=A)  # each job its own day


async def test_a_run_stopped_with_the_process_stops_between_writes_and_is_not_done(
    loaded: ServiceContext, clock: Clock
) -> None:
    rows = [
        {"source": "sms", "external_id": f"SM-{n}", "received_at": clock.now, "sender": None}
        for n in range(BATCH * 12)
    ]
    async with loaded.db.engine.begin() as conn:
        await conn.execute(insert(InboundReceipt.__table__), rows)  # type: ignore[attr-defined]
    clock.advance(days=31)
    jobs = clockwork(loaded)
    run = asyncio.create_task(jobs.retention())

    async def written() -> bool:  # its first write is committed
        return await _receipts(loaded) < len(rows)

    await eventually(written, step=0.001)
    await jobs.stop()
    assert run.done()
    left = await _receipts(loaded)
    assert 0 < left < len(rows)
    assert left % BATCH == 0  # whole writes: none was cut short
    await clockwork(loaded).retention()  # the same day: the stopped run did not count
    assert await _receipts(loaded) == 0


async def test_the_jobs_follow_the_settings(loaded: ServiceContext, tmp_path: Path) -> None:
    url = "sqlite+aiosqlite:///unused.db"
    data = DataJobs.of(run_settings(url, retain_drafts_days=3, anonymise_reporters_days=400))
    assert data.retention == Retention(180, 30, 3, 730, 400)
    assert data.backup_dir is None
    jobs = clockwork(loaded, data)
    await jobs.start()
    try:
        assert jobs.scheduler.get_job("retention") is not None
        assert jobs.scheduler.get_job("backup") is None
    finally:
        await jobs.stop()
    jobs = clockwork(loaded, DataJobs.of(run_settings(url, backup_dir=str(tmp_path))))
    await jobs.start()
    try:
        assert jobs.scheduler.get_job("backup") is not None
    finally:
        await jobs.stop()
    jobs = clockwork(loaded, None)  # no data jobs at all
    await jobs.start()
    try:
        assert jobs.scheduler.get_job("retention") is None
    finally:
        await jobs.stop()


async def test_the_backup_job_makes_the_days_backup_once(
    loaded: ServiceContext, tmp_path: Path
) -> None:
    folder = tmp_path / "backups"
    jobs = clockwork(loaded, DataJobs(Retention(), str(folder), 3))
    await jobs.backup()
    await jobs.backup()  # the same day: nothing more
    made = sorted(p.name for p in folder.iterdir()) if folder.exists() else []
    can = loaded.db.is_sqlite or shutil.which("pg_dump") is not None
    assert len(made) == (1 if can else 0)
