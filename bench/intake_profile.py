"""The SMS report's hot path in process, no HTTP: ``handle_sms`` × N at a concurrency, on SQLite.

Prints reports/s and CPU per report (the whole process, and the writer's thread); with
``--profile FILE`` the writer's thread runs under cProfile and its top functions are printed.

    python bench/intake_profile.py [--reports 1000] [--concurrency 50] [--profile out.prof]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as ``python bench/intake_profile.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.channels import BOOK
from bot.directory_file import read_directory
from bot.services.context import ServiceContext
from bot.services.directory import load_directory
from bot.sms.inbound import InboundSms, handle_sms
from db.engine import open_database
from db.migrate import upgrade
from sandbox.harness import EXAMPLE, sqlite_url

TO = "+8610690000003"  # the example's yuanxiang community


async def _main(reports: int, concurrency: int, profile: str | None) -> None:
    with tempfile.TemporaryDirectory() as folder:
        db = open_database(sqlite_url(Path(folder) / "wolaiban.db"))
        await upgrade(db)
        ctx = ServiceContext(channels=BOOK, db=db, default_language="zh")
        await load_directory(ctx, read_directory(EXAMPLE))
        await handle_sms(ctx, InboundSms("SMwarm", "+8613600000000", TO, "楼道灯坏了"))
        writer = db.writer
        assert writer is not None
        profiler = cProfile.Profile() if profile else None
        thread_cpu: list[float] = []

        def start() -> None:
            thread_cpu.append(time.thread_time())
            if profiler is not None:
                profiler.enable()

        executor = writer._executor()
        await asyncio.get_running_loop().run_in_executor(executor, start)
        queue = list(range(reports))

        async def worker() -> None:
            while queue:
                n = queue.pop()
                message = InboundSms(f"SM{n:030d}", f"+86137{n:08d}", TO, "楼道灯坏了，晚上看不见")
                answer = await handle_sms(ctx, message)
                if not answer or "#" not in answer[-1]:
                    raise AssertionError(answer)

        batches, cpu, wall = writer.batches, time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu

        def stop() -> None:
            if profiler is not None:
                profiler.disable()
            thread_cpu.append(time.thread_time() - thread_cpu[0])

        await asyncio.get_running_loop().run_in_executor(executor, stop)
        print(
            f"{reports} reports at c={concurrency}: {reports / wall:.0f} reports/s, "
            f"{cpu / reports * 1000:.2f} ms CPU per report (process), "
            f"{thread_cpu[-1] / reports * 1000:.2f} ms in the writer's thread, "
            f"{writer.batches - batches} batches"
        )
        await db.dispose()
        if profiler is not None and profile:
            profiler.dump_stats(profile)
            pstats.Stats(profile).sort_stats("cumulative").print_stats(35)


def main() -> None:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reports", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--profile", default=None)
    args = parser.parse_args()
    asyncio.run(_main(args.reports, args.concurrency, args.profile))


if __name__ == "__main__":
    main()
