"""The SMS report's hot path in process, no HTTP: ``handle_sms`` × N at a concurrency.

Prints reports/s and CPU per report (the whole process, and on SQLite the writer's thread; on
PostgreSQL, ``--postgres URL``, a fresh database, the server's backends for it); with
``--profile FILE`` the writer (SQLite: its thread; PostgreSQL: the event loop's, where the
units run) runs under cProfile and its top functions are printed.

    python bench/intake_profile.py [--reports 1000] [--concurrency 50] [--profile out.prof]
                                   [--postgres postgresql+asyncpg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

if __package__ in (None, ""):  # run as ``python bench/intake_profile.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import NO_FOLLOW, fresh_postgres
from bot.channels import BOOK
from bot.services.directory.load import load_directory
from bot.services.unit.context import ServiceContext
from bot.sms.handler import InboundSms, handle_sms
from db.engine import Database, open_database
from db.migrate import upgrade
from sandbox.harness import example_directory, sqlite_url

TO = "+8610690000003"  # the example's yuanxiang community


@asynccontextmanager
async def _database(postgres: str | None) -> AsyncIterator[tuple[Database, str]]:
    """A migrated, empty database: a SQLite file, or a fresh database on ``postgres``; and its
    name (to find the server's backends for it)."""
    if postgres:
        async with fresh_postgres(postgres) as url:
            db = open_database(url)
            yield db, url.rsplit("/", 1)[-1]
            await db.dispose()
        return
    with tempfile.TemporaryDirectory() as folder:
        db = open_database(sqlite_url(Path(folder) / "wolaiban.db"))
        yield db, ""
        await db.dispose()


def _backend_seconds(database: str) -> float:
    """CPU seconds of this machine's PostgreSQL backends serving ``database``, and of those that
    exited (the postmaster's reaped children: a connection the pool closed is counted too)."""
    ticks = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                command = f.read()
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if command.startswith(b"postgres:") and f" {database} ".encode() in command:
            ticks += int(fields[11]) + int(fields[12])
        elif b"postgres" in command and b"config_file" in command:  # the postmaster
            ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


async def _main(reports: int, concurrency: int, profile: str | None, postgres: str | None) -> None:
    async with _database(postgres) as (db, name):
        await upgrade(db)
        ctx = ServiceContext(channels=BOOK, db=db, default_language="zh")
        # Every report a case of its own, on the hot path (bench/common.py NO_FOLLOW says why).
        await load_directory(ctx, example_directory(**NO_FOLLOW))
        await handle_sms(ctx, InboundSms("SMwarm", "+8613600000000", TO, "楼道灯坏了"))
        writer = db.writer
        assert writer is not None
        profiler = cProfile.Profile() if profile else None
        thread_cpu: list[float] = []

        def start() -> None:
            thread_cpu.append(time.thread_time())
            if profiler is not None:
                profiler.enable()

        def stop() -> None:
            if profiler is not None:
                profiler.disable()
            thread_cpu.append(time.thread_time() - thread_cpu[0])

        async def in_writer(step: Callable[[], None]) -> None:
            if writer.sync_engine is None:  # PostgreSQL: the units run on the event loop
                step()
            else:
                await asyncio.get_running_loop().run_in_executor(writer._executor(), step)

        await in_writer(start)
        queue = list(range(reports))

        async def worker() -> None:
            while queue:
                n = queue.pop()
                message = InboundSms(f"SM{n:030d}", f"+86137{n:08d}", TO, "楼道灯坏了，晚上看不见")
                answer = await handle_sms(ctx, message)
                if not answer or "#" not in answer[-1]:
                    raise AssertionError(answer)

        batches, cpu, wall = writer.batches, time.process_time(), time.perf_counter()
        server = _backend_seconds(name) if name else 0.0
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        server = (_backend_seconds(name) - server) if name else 0.0
        await in_writer(stop)
        where = (
            f"{server / reports * 1000:.2f} ms in PostgreSQL's backends"
            if name
            else f"{thread_cpu[-1] / reports * 1000:.2f} ms in the writer's thread"
        )
        print(
            f"{reports} reports at c={concurrency}: {reports / wall:.0f} reports/s, "
            f"{cpu / reports * 1000:.2f} ms CPU per report (process), {where}, "
            f"{writer.batches - batches} batches"
        )
    if profiler is not None and profile:
        profiler.dump_stats(profile)
        pstats.Stats(profile).sort_stats("cumulative").print_stats(35)


def main() -> None:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reports", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--profile", default=None)
    parser.add_argument("--postgres", metavar="URL", help="on PostgreSQL (a fresh database)")
    args = parser.parse_args()
    asyncio.run(_main(args.reports, args.concurrency, args.profile, args.postgres))


if __name__ == "__main__":
    main()
