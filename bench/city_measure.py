"""The figures ``bench/city.py`` takes of one world: console pages over HTTP, whole commands, the
CSV in a child process, ``run``'s memory, the sweep's claim, and the slower extras (the digest,
a directory reload, retention's daily batch, ``db backup``). Each returns plain numbers; the
caller sets them beside the baseline world's."""

from __future__ import annotations

import asyncio
import resource
import statistics
import time
from argparse import Namespace
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing, asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import cast

import httpx
from sqlalchemy import update
from sqlmodel import col, select

import bench.console as console_bench
from bench.city_world import COMMUNITY_STAFF, DISTRICT, DUE
from bench.common import bench_env, cli, emulators, rss_mb
from bench.intake import Target, measure
from bench.intake_payloads import Payloads
from bench.sweep import time_claim
from bot.channels import BOOK
from bot.config import Settings
from bot.console.downloads import csv_stream
from bot.console.routes import console_routes
from bot.services.data.retention import Retention, retain
from bot.services.digest.daily import send_digest
from bot.services.staff import listing
from bot.services.unit.context import ServiceContext
from bot.web import create_web_app
from db.engine import open_database
from db.models import Case, Community
from sandbox.child import Process, clean_env, wait_ready
from sandbox.serve import free_port, serving

SECRET = "bench-city-secret-0123456789abcdef0123"
SLOW_MS = 2_000.0  # a page slower than this is asked three times, not ``repeat``


def last_month(today: date) -> tuple[date, date]:
    """The first and last day of the month before ``today``'s."""
    end = today.replace(day=1) - timedelta(days=1)
    return end.replace(day=1), end


def pages(communities: int) -> list[tuple[str, str]]:
    """The console pages timed: label and path (a district's case numbers: ``bench.city_world``)."""
    first, last = last_month(datetime.now(UTC).date())
    month = f"since={first.isoformat()}&until={last.isoformat()}"
    return [
        ("home (open, overdue first)", "/console/cases"),
        ("status=all", "/console/cases?status=all"),
        ("overdue=1", "/console/cases?overdue=1"),
        ("a community, every status", "/console/cases?community=c00042&status=all"),
        ("a category, every status", "/console/cases?category=parcels&status=all"),
        ("last month, every status", f"/console/cases?status=all&{month}"),
        ("q=快递 (2 characters)", "/console/cases?q=快递&status=all"),
        ("q=快递堆在 (a phrase)", "/console/cases?q=快递堆在&status=all"),
        ("a case", "/console/cases/42"),  # c00042's: both readers see it
        ("rates", "/console/rates"),
    ]


async def _median_ms(client: httpx.AsyncClient, path: str, repeat: int) -> float:
    """The median of ``repeat`` GETs of ``path`` (of three when the first is slower than
    SLOW_MS: the figure is a miss either way, and time is short)."""
    found: list[float] = []
    while len(found) < (repeat if not found or found[0] < SLOW_MS else 3):
        started = time.perf_counter()
        answer = await client.get(path)
        found.append((time.perf_counter() - started) * 1000)
        if answer.status_code != 200:
            raise SystemExit(f"{path}: {answer.status_code} {answer.text[:300]}")
    return statistics.median(found)


async def console(url: str, communities: int, repeat: int, reader: str) -> dict[str, float]:
    """Each page's median ms for ``reader``, through the console as ``run`` mounts it."""
    db = open_database(url)
    ctx = ServiceContext(channels=BOOK, db=db, default_language="zh")
    settings = Settings(_env_file=None, database_url=url, console_secret=SECRET)
    app = create_web_app(ctx, console_routes(settings, ctx, lambda: None))
    found: dict[str, float] = {}
    # bench/console.py's sign-in, for this reader (it signs in the module's STAFF).
    console_bench.STAFF = reader
    try:
        async with serving(app) as base, httpx.AsyncClient(base_url=base, timeout=600) as client:
            await console_bench.sign_in(client, ctx)
            for label, path in pages(communities):
                found[label] = await _median_ms(client, path, repeat)
                print(f"    {reader}: {label}: {found[label]:,.0f} ms", flush=True)
    finally:
        await db.dispose()
    return found


def commands(url: str, workdir: Path, repeat: int) -> dict[str, float]:
    """Seconds (median of ``repeat``) of each ``stats`` command, start-up included, and the CPU
    seconds it used (user + system: on a busy machine the wall time is mostly waiting); and
    ``wolaiban --help``, what starting and importing cost alone."""
    first, last = last_month(datetime.now(UTC).date())
    month = ["--since", first.isoformat(), "--until", last.isoformat()]
    env = clean_env(DATABASE_URL=url, LOG_LEVEL="WARNING")
    found = {}
    for label, argv in (
        ("stats, last month", ["stats", *month]),
        ("stats --by community, last month", ["stats", *month, "--by", "community"]),
        ("stats --by community, everything", ["stats", "--by", "community"]),
        ("wolaiban --help (interpreter, lazy imports)", ["--help"]),
    ):
        walls, cpus = [], []
        for _ in range(repeat):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            walls.append(cli(argv, env, workdir)[0])
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        found[label] = statistics.median(walls)
        found[f"  {label}: CPU"] = statistics.median(cpus)
        print(
            f"    {label}: {found[label]:.2f} s ({statistics.median(cpus):.2f} s CPU)", flush=True
        )
    return found


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def csv_export(url: str, limit: int) -> dict[str, float]:
    """In this (child) process: the console's CSV of every status for the district office, its
    first ``limit`` rows; rows, seconds and peak RSS before and after."""
    db = open_database(url)
    ctx = ServiceContext(channels=BOOK, db=db, default_language="zh")
    async with db.reading() as session:
        ids = tuple((await session.exec(select(Community.id))).all())
    viewer = listing.Viewer(DISTRICT, DISTRICT, "staff", ids)
    before, rows = _peak_mb(), -1  # the header is a line too
    started = time.perf_counter()
    # csv_stream is an async generator: closed when the first ``limit`` rows are read.
    stream = cast(
        AsyncGenerator[bytes],
        csv_stream(ctx, viewer, listing.Filters(status="all"), language="zh"),
    )
    async with aclosing(stream) as chunks:
        async for chunk in chunks:
            rows += chunk.count(b"\r\n")  # the world's texts have no line breaks
            if rows >= limit:
                break
    seconds = time.perf_counter() - started
    await db.dispose()
    return {"rows": rows, "seconds": seconds, "before_mb": before, "peak_mb": _peak_mb()}


@asynccontextmanager
async def started(env: dict[str, str], workdir: Path, name: str) -> AsyncIterator[Process]:
    """``wolaiban run`` ready, waited for as long as a city's directory takes to load at start
    (``bench.common.wolaiban_run`` waits a minute: under load this one takes minutes)."""
    process = Process(env, workdir / f"{name}.log", cwd=workdir)
    started_at = time.perf_counter()
    process.start()
    try:
        await wait_ready(process, seconds=1200)
        print(f"    {name}: ready in {time.perf_counter() - started_at:.0f} s", flush=True)
        yield process
    finally:
        process.stop()


async def run_rss(url: str, directory: Path, workdir: Path, name: str) -> float:
    """``wolaiban run`` on ``url`` with ``directory``: its RSS (MB) once ready and idle a while."""
    env = bench_env(url, port=free_port(), directory=directory)
    async with started(env, workdir, name) as child:
        await asyncio.sleep(4)
        return rss_mb(child.pid)


async def sweep_claim(url: str, now: datetime, repeat: int) -> float:
    """The sweep's claim of the earliest due case, median ms (``bench/sweep.py``'s)."""
    db = open_database(url)
    try:
        # A kept world's due cases were handled by an earlier run's ``run``: the next to come
        # due (those of the least-advanced timers) are made due again.
        soonest = (
            select(Case.number)
            .where(col(Case.status).in_(("assigned", "acknowledged")))
            .order_by(col(Case.next_due_at))
            .limit(DUE)
        )
        async with db.transaction() as session:
            moved = update(Case).where(col(Case.number).in_(soonest.scalar_subquery()))
            await session.exec(moved.values(next_due_at=now - timedelta(minutes=5)))
        return statistics.median(await time_claim(db, now, repeat)) * 1000
    finally:
        await db.dispose()


async def intake(url: str, directory: Path, workdir: Path, requests: int) -> float:
    """SMS reports/s into ``wolaiban run`` with ``directory`` on a fresh ``url``: the intake
    benchmark's closed loop at 50 concurrent senders (``bench/intake.py``), SMS only."""
    cli(["db", "upgrade"], bench_env(url, directory=False), workdir)
    args = Namespace(levels=[50], requests=requests, paced=[], telegram="none", paced_seconds=5.0)
    async with emulators() as emu:
        env = bench_env(url, emu, port=free_port(), directory=directory)
        async with started(env, workdir, f"intake-{directory.stem}") as child:
            db = open_database(url)
            try:
                assert emu.twilio is not None
                payloads = Payloads(env["PUBLIC_URL"], emu.twilio.auth_token, emu)
                results = await measure(Target("wolaiban", child, db), payloads, args)
            finally:
                await db.dispose()
    return results.levels[50].reports_per_second


async def _seconds(call: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await call()
    return time.perf_counter() - started


async def extras(url: str, directory: Path, workdir: Path, backup: bool) -> dict[str, float]:
    """The digest (the district office's, and one community's staff, median of 5), a reload of
    the unchanged directory, retention's daily batch, and ``db backup`` when asked; seconds."""
    db = open_database(url)
    ctx = ServiceContext(channels=BOOK, db=db, default_language="zh")
    found: dict[str, float] = {}
    try:
        found["digest, the district office (every community)"] = await _seconds(
            lambda: send_digest(ctx, person_id=DISTRICT, on_demand=True)
        )
        one = [
            await _seconds(lambda: send_digest(ctx, person_id=COMMUNITY_STAFF, on_demand=True))
            for _ in range(5)
        ]
        found["digest, one community's staff (median of 5)"] = statistics.median(one)
        found["retention's daily batch (defaults)"] = await _seconds(
            lambda: retain(ctx, Retention(), pause=0)
        )
    finally:
        await db.dispose()
    env = clean_env(DATABASE_URL=url, LOG_LEVEL="WARNING")
    found["directory load, unchanged (whole command)"] = cli(
        ["directory", "load", str(directory)], env, workdir
    )[0]
    if backup:
        target = workdir / f"backup-{time.time_ns()}.db"
        found["db backup (whole command)"] = cli(["db", "backup", str(target)], env, workdir)[0]
        target.unlink(missing_ok=True)
    for label, seconds in found.items():
        print(f"    {label}: {seconds:.2f} s", flush=True)
    return found
