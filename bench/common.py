"""What the benchmarks share: ``wolaiban run`` and a bare server as subprocesses, the loopback
Telegram and Twilio emulators, a fresh PostgreSQL database, the results table, RSS, percentiles
(what the tests set up alike is ``sandbox.harness``; the bulk cases are ``bench.bulk``).

Every figure is printed next to a baseline measured in the same run, on the same machine, so the
ratio means something even when the absolute numbers move with the machine's load.
"""

from __future__ import annotations

import math
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from sandbox.child import Process, clean_env, run_env, wait_ready
from sandbox.harness import (
    EXAMPLE,
    Emulators,
    add_people,
    directory_file,
    example_directory,
    run_settings,
    serve_emulators,
    sqlite_url,
)
from sandbox.serve import free_port
from sandbox.telegram import Limits as TelegramLimits
from sandbox.telegram import TelegramEmulator
from sandbox.twilio import TwilioEmulator

PYTHON = sys.executable

# A bare Starlette app answering 200 to any POST (and GET), served the way ``wolaiban run`` serves
# its own (uvicorn, same defaults, lifespan off): the ceiling of this machine, this Python and
# this HTTP stack, with no work behind the answer.
BARE_SERVER = """
import sys
import uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

async def ok(request):
    await request.body()
    return Response(status_code=200)

app = Starlette(routes=[Route("/{path:path}", ok, methods=["GET", "POST"])])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", lifespan="off")
"""


# The benchmarks that play many reports model many different problems, each its own case. With
# the follow offer on (docs/reference.md §4), a later report of the same community, category and
# building would be offered the open case to follow — a question, not a case; on SMS the general
# path, not the hot one — and they would measure the offer instead of what they are about
# (intake, durability, deliveries). Their directory turns it off; bench/suggest.py measures it.
NO_FOLLOW: dict[str, object] = {"follow_window": "0s"}


def bench_directory(folder: Path, **defaults: object) -> Path:
    """The example directory for a benchmark's ``run``: the follow offer off (``NO_FOLLOW``),
    ``defaults`` over its own, written in ``folder``."""
    return directory_file(folder, **{**NO_FOLLOW, **defaults})


# ---- the results table --------------------------------------------------------------------------


@dataclass
class Figure:
    """One line of a results table; ``passed`` None is a figure with no target."""

    name: str
    value: float | None
    unit: str = ""
    baseline: float | None = None
    target: str = ""
    passed: bool | None = None
    digits: int = 1
    ratio: float | None = None  # value / baseline unless given

    def ratio_value(self) -> float | None:
        """The ratio to the baseline, when both are known."""
        if self.ratio is not None:
            return self.ratio
        if self.value is None or not self.baseline:
            return None
        return self.value / self.baseline


def _number(value: float | None, digits: int, unit: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    shown = f"{value:,.{digits}f}" if digits else f"{round(value):,d}"
    return f"{shown} {unit}".rstrip()


def print_table(title: str, figures: Sequence[Figure]) -> list[Figure]:
    """Print ``figures`` as figure | value | baseline | ratio | target | pass; return the misses."""
    headers = ["figure", "value", "baseline", "ratio", "target", "pass"]
    rows = []
    for f in figures:
        ratio = f.ratio_value()
        rows.append(
            [
                f.name,
                _number(f.value, f.digits, f.unit),
                _number(f.baseline, f.digits, f.unit),
                "-" if ratio is None else f"{ratio:.2f}x",
                f.target or "-",
                {True: "PASS", False: "FAIL", None: ""}[f.passed],
            ]
        )
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    right = {1, 2, 3}

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    print(f"\n{title}")
    print(line(headers))
    print(line(["-" * w for w in widths]))
    for row in rows:
        print(line(row))
    misses = [f for f in figures if f.passed is False]
    for f in misses:
        print(f"MISSED: {f.name}: {_number(f.value, f.digits, f.unit)} (target {f.target})")
    return misses


def machine_note() -> str:
    """Cores, load and Python: the context every figure was measured in."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{platform.node()}: {os.cpu_count()} cores, load average {load}, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0-100) with linear interpolation (numpy's default); NaN if empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` in MB (VmRSS from /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


# ---- subprocesses ------------------------------------------------------------------------------


@asynccontextmanager
async def wolaiban_run(
    env: dict[str, str], workdir: Path, *, name: str = "run"
) -> AsyncIterator[Process]:
    """``wolaiban run`` as a subprocess with ``env`` (HTTP_PORT must be set), ready on /healthz."""
    process = Process(env, workdir / f"{name}.log", cwd=workdir)
    process.start()
    try:
        await wait_ready(process)
        yield process
    finally:
        process.stop()


@asynccontextmanager
async def bare_server(workdir: Path) -> AsyncIterator[Process]:
    """The baseline: a bare Starlette app answering 200, under uvicorn, in its own process."""
    port = free_port()
    argv = [PYTHON, "-c", BARE_SERVER, str(port)]
    process = Process(clean_env(HTTP_PORT=str(port)), workdir / "bare.log", cwd=workdir, argv=argv)
    process.start()
    try:
        await wait_ready(process, "/")
        yield process
    finally:
        process.stop()


def cli(args: Sequence[str], env: dict[str, str], workdir: Path) -> tuple[float, str]:
    """Run ``wolaiban ARGS``; its wall time in seconds and its output (raise on failure)."""
    started = time.perf_counter()
    done = subprocess.run(
        [PYTHON, "-m", "bot.cli", *args], env=env, cwd=workdir, capture_output=True, check=False
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(
            f"wolaiban {' '.join(args)} exited {done.returncode}:\n{done.stderr.decode()[-2000:]}"
        )
    return seconds, done.stdout.decode()


# ---- the world around the process: emulators and databases ---------------------------------------


@asynccontextmanager
async def emulators() -> AsyncIterator[Emulators]:
    """Both emulators with the directory's Telegram people known (Telegram's flood limits on)."""
    telegram = TelegramEmulator(limits=TelegramLimits())
    add_people(telegram, example_directory())
    async with serve_emulators(telegram, TwilioEmulator()) as served:
        yield served


def bench_env(
    database_url: str,
    emulators: Emulators | None = None,
    *,
    port: int = 0,
    directory: bool | Path = True,
) -> dict[str, str]:
    """The environment of a ``wolaiban run`` (or another command) on ``database_url``, listening
    on ``port``: pointed at ``emulators`` (Telegram by webhook) when given, the directory file
    ``directory`` loaded (``bench_directory``'s), else the example's unless it is false."""
    values: dict[str, object] = {"log_level": "WARNING"}
    if isinstance(directory, Path):
        values["directory_file"] = str(directory)
    elif directory:
        values["directory_file"] = str(EXAMPLE)
    webhook = emulators is not None
    return run_env(run_settings(database_url, emulators, port=port, webhook=webhook, **values))


@asynccontextmanager
async def fresh_postgres(server_url: str) -> AsyncIterator[str]:
    """A new, empty database on the server of ``server_url``; dropped afterwards. Yields its URL."""
    url = make_url(server_url)
    if not url.drivername.startswith("postgresql"):
        raise SystemExit(f"--postgres wants a postgresql+asyncpg:// URL, not {server_url!r}")
    url = url.set(drivername="postgresql+asyncpg")
    name = f"wolaiban_bench_{uuid.uuid4().hex[:10]}"
    admin = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


@asynccontextmanager
async def bench_database(postgres: str | None, sqlite_name: str) -> AsyncIterator[str]:
    """A new, empty database for one run: on the PostgreSQL server ``postgres`` when given, else
    the SQLite file ``sqlite_name`` in a temporary folder; gone afterwards. Yields its URL."""
    if postgres:
        async with fresh_postgres(postgres) as url:
            yield url
        return
    with tempfile.TemporaryDirectory() as folder:
        yield sqlite_url(Path(folder) / sqlite_name)
