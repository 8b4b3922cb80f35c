"""Scale of records: the command line and the running process over 100,000 cases with their events.

The database is made the way production makes it (the real migrations, the example directory),
then 100,000 cases with their events are bulk-inserted: 90% closed and rated (five events each:
reported, routed, acknowledged, resolved, rated), 10% open (two events each) with their timers
ahead — 470,000 events in all. Then:

- ``wolaiban stats``, ``stats --by community``, ``cases list`` (the open cases, as a table and
  ``--json``) and ``cases list --status …`` naming every status (all 100,000) run as
  subprocesses, each timed as the wall time of the whole command (best of 3). The baseline is the
  same command on an empty database (same schema and directory, no cases): what starting Python,
  importing and connecting cost by themselves;
- ``wolaiban run`` (no Telegram, no Twilio) is started on the empty database and on the full one;
  its resident memory (VmRSS) is read after it has been up a few seconds, then again after
  ``/metrics`` and ``/readyz`` have been asked a few times. The baselines are a bare
  ``python -c "import time; time.sleep(…)"`` and the bare Starlette server under uvicorn. With
  the example directory loaded, a process started after the digest hour (08:30 in Beijing) sends
  today's digest at once, its chart drawn by a short-lived worker process (matplotlib loads there,
  not in ``run``); a third process, on a database with no directory (no staff, no digest), shows
  the memory with no digest at all.

    python bench/records.py [--quick] [--cases 100000] [--open-share 0.1]
                            [--postgres postgresql+asyncpg://postgres@127.0.0.1:5432/test]

Exits 1 when a target is missed: each command ≤ 1 s; ``run`` ≤ 150 MB resident, idle and after
100,000 cases.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bot.channels import BOOK

if __package__ in (None, ""):  # run as ``python bench/records.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from sqlalchemy import func
from sqlmodel import select

from bench.bulk import Mix, fill, prepare
from bench.common import (
    PYTHON,
    Figure,
    bare_server,
    bench_env,
    cli,
    fresh_postgres,
    machine_note,
    print_table,
    rss_mb,
    wolaiban_run,
)
from bot.services.staff import stats, views
from bot.services.unit.context import ServiceContext
from core.cases import OPEN_STATUSES, Status
from db.engine import open_database
from db.models import CaseEvent
from sandbox.child import Process as Child
from sandbox.child import clean_env
from sandbox.harness import sqlite_url
from sandbox.serve import free_port

TARGET_SECONDS, TARGET_MB = 1.0, 150.0
EVERY_STATUS = [arg for status in Status for arg in ("--status", status.value)]
COMMANDS: list[tuple[str, list[str]]] = [
    ("stats", ["stats"]),
    ("stats --by community", ["stats", "--by", "community"]),
    ("cases list (open, table)", ["cases", "list"]),
    ("cases list --json (open)", ["cases", "list", "--json"]),
    ("cases list, every status (table)", ["cases", "list", *EVERY_STATUS]),
    ("cases list --json, every status", ["cases", "list", "--json", *EVERY_STATUS]),
]
SETTLE_SECONDS = 4.0


@asynccontextmanager
async def database(args: argparse.Namespace, name: str) -> AsyncIterator[str]:
    """The URL of a new, empty database: a SQLite file, or a fresh PostgreSQL database."""
    if args.postgres:
        async with fresh_postgres(args.postgres) as url:
            yield url
        return
    yield sqlite_url(args.workdir / f"{name}.db")


async def populate(url: str, mix: Mix | None, *, directory: bool = True) -> str:
    """Migrate, load the directory, insert ``mix``; a one-line summary."""
    db = open_database(url)
    try:
        now = datetime.now(UTC)
        await prepare(db, lambda: now, directory=directory)
        if mix is None:
            return "empty" if directory else "empty, no directory"
        started = time.perf_counter()
        statuses = await fill(db, mix, now)
        async with db.reading() as session:
            events = (await session.exec(select(func.count()).select_from(CaseEvent))).one()
        seconds = time.perf_counter() - started
        return (
            f"{mix.cases:,} cases {dict(statuses)}, {events:,} events, inserted in {seconds:.1f} s"
        )
    finally:
        await db.dispose()


def time_commands(url: str, workdir: Path, repeat: int) -> dict[str, tuple[float, int]]:
    """Best wall time of each command, and the lines it printed."""
    env = clean_env(DATABASE_URL=url, LOG_LEVEL="WARNING")
    found = {}
    for label, command in COMMANDS:
        runs = [cli(command, env, workdir) for _ in range(repeat)]
        found[label] = (min(seconds for seconds, _ in runs), runs[0][1].count("\n"))
    return found


async def time_in_process(url: str, repeat: int) -> dict[str, float]:
    """Best time of each use case called in this process: the queries and the Python around
    them, without starting an interpreter or importing anything."""
    db = open_database(url)
    ctx = ServiceContext(channels=BOOK, db=db, default_language="zh")
    every = [status.value for status in Status]
    # views.list_cases filters nothing when given no statuses; the CLI passes the open ones
    open_ = [status.value for status in OPEN_STATUSES]
    calls: list[tuple[str, Callable[[], Awaitable[object]]]] = [
        ("stats.rates()", lambda: stats.rates(ctx)),
        ("stats.rates(by=community)", lambda: stats.rates(ctx, by="community")),
        ("views.list_cases(open)", lambda: views.list_cases(ctx, statuses=open_)),
        ("views.case_lines(open): the table's", lambda: views.case_lines(ctx, statuses=open_)),
        ("views.list_cases(every status)", lambda: views.list_cases(ctx, statuses=every)),
    ]
    found = {}
    try:
        for label, call in calls:
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                await call()
                times.append(time.perf_counter() - started)
            found[label] = min(times)
    finally:
        await db.dispose()
    return found


@dataclass
class Process:
    """What one ``wolaiban run`` showed: RSS (MB) settled after start and after the requests,
    and the median answer time (s) of each path asked."""

    idle: float
    used: float
    answers: dict[str, float]


async def run_memory(url: str, workdir: Path, name: str, *, directory: bool = True) -> Process:
    """``wolaiban run`` on ``url``: RSS after start, and after /metrics and /readyz 5 times."""
    env = bench_env(url, port=free_port(), directory=directory)
    async with wolaiban_run(env, workdir, name=name) as child:
        await asyncio.sleep(SETTLE_SECONDS)
        idle = rss_mb(child.pid)
        times: dict[str, list[float]] = {"/metrics": [], "/readyz": []}
        async with httpx.AsyncClient(timeout=30) as client:
            for _ in range(5):
                for path, taken in times.items():
                    started = time.perf_counter()
                    answer = await client.get(child.url + path)
                    taken.append(time.perf_counter() - started)
                    if answer.status_code not in (200, 503):
                        raise RuntimeError(f"{path} answered {answer.status_code}")
        await asyncio.sleep(1.0)
        used = max(idle, rss_mb(child.pid))
    return Process(idle, used, {path: statistics.median(t) for path, t in times.items()})


async def baselines(workdir: Path) -> tuple[float, float]:
    """RSS (MB) of a bare sleeping Python, and of the bare Starlette server after a few requests."""
    argv = [PYTHON, "-c", "import time; time.sleep(60)"]
    sleeper = Child(clean_env(), workdir / "sleep.log", cwd=workdir, argv=argv)
    sleeper.start()
    try:
        await asyncio.sleep(1.0)
        python = rss_mb(sleeper.pid)
    finally:
        sleeper.kill()
    async with bare_server(workdir) as bare:
        async with httpx.AsyncClient() as client:
            for _ in range(10):
                await client.post(bare.url + "/x", content=b"x")
        await asyncio.sleep(SETTLE_SECONDS)
        starlette = rss_mb(bare.pid)
    return python, starlette


async def main(args: argparse.Namespace) -> int:
    print(machine_note())
    backend = "PostgreSQL" if args.postgres else "SQLite"
    closed = 1 - args.open_share
    mix = Mix(cases=args.cases, closed_share=closed)
    async with (
        database(args, "empty") as empty_url,
        database(args, "records") as full_url,
        database(args, "nobody") as nobody_url,
    ):
        print(f"{backend}, empty database: {await populate(empty_url, None)}", flush=True)
        print(f"{backend}: {await populate(nobody_url, None, directory=False)}", flush=True)
        print(f"{backend}, full database: {await populate(full_url, mix)}", flush=True)
        empty = time_commands(empty_url, args.workdir, args.repeat)
        full = time_commands(full_url, args.workdir, args.repeat)
        for label, (seconds, lines) in full.items():
            print(f"  {label:<36} {seconds:6.2f} s  ({lines:,} lines of output)", flush=True)
        inner_empty = await time_in_process(empty_url, args.repeat)
        inner_full = await time_in_process(full_url, args.repeat)
        started = time.perf_counter()
        cli(["--help"], clean_env(), args.workdir)
        help_seconds = time.perf_counter() - started
        python_mb, starlette_mb = await baselines(args.workdir)
        on_empty = await run_memory(empty_url, args.workdir, "run-empty")
        on_full = await run_memory(full_url, args.workdir, "run-full")
        nobody = await run_memory(nobody_url, args.workdir, "run-nobody", directory=False)
        idle_empty, used_empty = on_empty.idle, on_empty.used
        idle_full, used_full = on_full.idle, on_full.used

    commands = [
        Figure(
            label,
            seconds,
            "s",
            empty[label][0],
            f"≤ {TARGET_SECONDS:g} s",
            seconds <= TARGET_SECONDS,
            digits=2,
        )
        for label, (seconds, _) in full.items()
    ]
    misses = print_table(
        f"The command line over {args.cases:,} cases on {backend}, best of {args.repeat} "
        "(baseline: the same command on an empty database)",
        commands,
    )
    inner = [
        Figure(label, seconds, "s", inner_empty[label], digits=3)
        for label, seconds in inner_full.items()
    ]
    inner.append(Figure("wolaiban --help (start and imports)", help_seconds, "s", digits=2))
    inner += [
        Figure(f"GET {path} from run (median of 5)", on_full.answers[path], "s", seconds, digits=3)
        for path, seconds in on_empty.answers.items()
    ]
    print_table(
        f"The same work in-process: the use case alone, best of {args.repeat} "
        "(baseline: on the empty database)",
        inner,
    )
    target = f"≤ {TARGET_MB:g} MB"
    memory = [
        Figure("bare python (sleeping)", python_mb, "MB", digits=1),
        Figure("bare Starlette server (uvicorn)", starlette_mb, "MB", digits=1),
        Figure("run, idle, no directory: no digest drawn", nobody.idle, "MB", starlette_mb),
        Figure(
            "run, idle, empty database",
            idle_empty,
            "MB",
            starlette_mb,
            target,
            idle_empty <= TARGET_MB,
        ),
        Figure(
            "run, after /metrics, /readyz, empty db",
            used_empty,
            "MB",
            starlette_mb,
            target,
            used_empty <= TARGET_MB,
        ),
        Figure(
            f"run, idle, {args.cases:,} cases",
            idle_full,
            "MB",
            starlette_mb,
            target,
            idle_full <= TARGET_MB,
        ),
        Figure(
            f"run, after /metrics, /readyz, {args.cases:,}",
            used_full,
            "MB",
            starlette_mb,
            target,
            used_full <= TARGET_MB,
        ),
    ]
    misses += print_table(
        f"Resident memory of wolaiban run on {backend} (baseline: the bare Starlette server)",
        memory,
    )
    print(f"\n{machine_note()}")
    print("(other work on this machine moves these figures; the ratios less so)")
    if args.keep:
        print(f"databases and logs kept in {args.workdir}")
    else:
        shutil.rmtree(args.workdir, ignore_errors=True)
    return 1 if misses else 0


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, help="cases in all (default 100,000)")
    parser.add_argument(
        "--open-share", type=float, default=0.1, help="of which open (default 0.1; the rest closed)"
    )
    parser.add_argument("--repeat", type=int, help="runs of each command, best kept (default 3)")
    parser.add_argument("--postgres", metavar="URL", help="bench on PostgreSQL (fresh databases)")
    parser.add_argument("--quick", action="store_true", help="a smoke test: 5,000 cases")
    parser.add_argument("--keep", metavar="DIR", help="keep the databases and logs in DIR")
    args = parser.parse_args(argv)
    args.cases = args.cases or (5_000 if args.quick else 100_000)
    args.repeat = args.repeat or (1 if args.quick else 3)
    args.workdir = Path(args.keep or tempfile.mkdtemp(prefix="wolaiban-records-"))
    args.workdir.mkdir(parents=True, exist_ok=True)
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
