"""What the benchmarks share: ``wolaiban run`` and a bare server as subprocesses, the loopback
Telegram and Twilio emulators, a fresh PostgreSQL database, the results table, RSS, percentiles.

Every figure is printed next to a baseline measured in the same run, on the same machine, so the
ratio means something even when the absolute numbers move with the machine's load.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import platform
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlmodel import select

from bot.config import Settings
from bot.directory_file import read_directory
from bot.services.context import ServiceContext
from bot.services.directory import load_directory
from core.cases import Rating
from db.engine import Database
from db.migrate import upgrade
from db.models import Case, CaseEvent, Category, Person, RoutingRule
from sandbox.serve import free_port, serving
from sandbox.telegram import Limits as TelegramLimits
from sandbox.telegram import TelegramEmulator
from sandbox.twilio import TwilioEmulator

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "changyang.yaml"
PYTHON = sys.executable
WEBHOOK_SECRET = "bench-webhook-secret-7f3a9c"
FROM_NUMBER = "+8610690000099"
# The people of the example directory who have Telegram (the emulator must know their chats).
DIRECTORY_TELEGRAM_IDS: tuple[int, ...] = (1001, 1002, 1003, 1004, 1005, 1006)
DIRECTORY_TELEGRAM_IDS += (2001, 2002, 2004, 2005, 2006, 3001, 3002, 3003, 3005, 3006)
DIRECTORY_TELEGRAM_IDS += (4001, 4003, 4005)

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


def clean_env(**values: str) -> dict[str, str]:
    """This environment without any Wolaiban setting it may carry, plus ``values``."""
    ours = {name.upper() for name in Settings.model_fields}
    env = {k: v for k, v in os.environ.items() if k.upper() not in ours}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(values)
    return env


@dataclass
class Child:
    """A server subprocess listening on ``url``; its output goes to ``log``."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path

    @property
    def pid(self) -> int:
        """The process id (for its RSS)."""
        return self.process.pid

    def tail(self, lines: int = 30) -> str:
        """The end of its log, for an error message."""
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


async def wait_ready(child: Child, path: str = "/healthz", seconds: float = 60.0) -> None:
    """Until ``GET path`` answers 200, or raise with the log's tail if the process died."""
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(timeout=2.0) as client:
        while True:
            if child.process.poll() is not None:
                raise RuntimeError(
                    f"the server exited ({child.process.returncode}):\n{child.tail()}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(child.url + path)).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the server did not answer {path} in {seconds}s:\n{child.tail()}"
                )
            await asyncio.sleep(0.1)


def stop(child: Child) -> None:
    """SIGTERM, then SIGKILL after 15 s."""
    if child.process.poll() is None:
        child.process.send_signal(signal.SIGTERM)
        try:
            child.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.process.kill()
            child.process.wait()


def spawn(
    argv: Sequence[str], env: dict[str, str], workdir: Path, log: Path
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in ``workdir``, its output appended to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(argv, env=env, cwd=workdir, stdout=out, stderr=out)


@asynccontextmanager
async def wolaiban_run(
    env: dict[str, str], workdir: Path, *, name: str = "run"
) -> AsyncIterator[Child]:
    """``wolaiban run`` as a subprocess with ``env`` (HTTP_PORT must be set), ready on /healthz."""
    log = workdir / f"{name}.log"
    process = spawn([PYTHON, "-m", "bot.cli", "run"], env, workdir, log)
    child = Child(process, f"http://127.0.0.1:{env['HTTP_PORT']}", log)
    try:
        await wait_ready(child)
        yield child
    finally:
        stop(child)


@asynccontextmanager
async def bare_server(workdir: Path) -> AsyncIterator[Child]:
    """The baseline: a bare Starlette app answering 200, under uvicorn, in its own process."""
    port = free_port()
    log = workdir / "bare.log"
    process = spawn([PYTHON, "-c", BARE_SERVER, str(port)], clean_env(), workdir, log)
    child = Child(process, f"http://127.0.0.1:{port}", log)
    try:
        await wait_ready(child, "/")
        yield child
    finally:
        stop(child)


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


@dataclass
class Emulators:
    """The loopback Telegram Bot API and Twilio, served in this process."""

    telegram: TelegramEmulator
    telegram_url: str
    twilio: TwilioEmulator
    twilio_url: str

    def env(self, port: int) -> dict[str, str]:
        """The settings pointing ``wolaiban run`` at the emulators, Telegram by webhook."""
        public = f"http://127.0.0.1:{port}"
        return {
            "TELEGRAM_BOT_TOKEN": self.telegram.token,
            "TELEGRAM_API_URL": self.telegram_url,
            "TELEGRAM_WEBHOOK_URL": f"{public}/telegram/webhook",
            "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "TWILIO_ACCOUNT_SID": self.twilio.account_sid,
            "TWILIO_AUTH_TOKEN": self.twilio.auth_token,
            "TWILIO_FROM_NUMBER": FROM_NUMBER,
            "TWILIO_API_URL": self.twilio_url,
            "PUBLIC_URL": public,
        }


@asynccontextmanager
async def emulators() -> AsyncIterator[Emulators]:
    """Both emulators with the directory's Telegram people known (Telegram's flood limits on)."""
    telegram = TelegramEmulator(limits=TelegramLimits())
    for user_id in DIRECTORY_TELEGRAM_IDS:
        telegram.add_user(user_id, f"user{user_id}")
    twilio = TwilioEmulator()
    async with serving(telegram.app) as telegram_url, serving(twilio.app) as twilio_url:
        yield Emulators(telegram, telegram_url, twilio, twilio_url)


def run_env(database_url: str, port: int, **values: str) -> dict[str, str]:
    """The environment of a ``wolaiban run`` on ``database_url`` listening on ``port``."""
    return clean_env(
        DATABASE_URL=database_url,
        HTTP_PORT=str(port),
        DIRECTORY_FILE=str(EXAMPLE),
        LOG_LEVEL="WARNING",
        **values,
    )


def sqlite_url(path: Path) -> str:
    """The DATABASE_URL of a SQLite file."""
    return f"sqlite+aiosqlite:///{path}"


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


# ---- many cases, fast: bulk inserts through SQLAlchemy core --------------------------------------

# A Wednesday, 10:00 in Beijing: working hours, outside the quiet hours (as in the tests).
MORNING = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
BATCH = 5000


@dataclass(frozen=True, slots=True)
class Mix:
    """What to insert: ``cases`` in all; ``due`` open ones whose timer ran out at ``now``; of
    the rest, ``closed_share`` closed (rated) and the others open with a timer in the future."""

    cases: int
    due: int = 0
    closed_share: float = 0.0


async def prepare(
    db: Database, clock: Callable[[], datetime], *, directory: bool = True
) -> ServiceContext:
    """The newest schema (the real migrations) and, unless told not to, the example directory."""
    await upgrade(db)
    ctx = ServiceContext(db=db, clock=clock, default_language="zh")
    if directory:
        await load_directory(ctx, read_directory(EXAMPLE))
    return ctx


async def fill(db: Database, mix: Mix, now: datetime, *, seed: int = 7) -> Counter[str]:
    """Insert the cases of ``mix`` with their events (and 1,000 residents); counts by status.

    A closed case has its five events (reported, routed, acknowledged, resolved, rated) and its
    timestamps; an open one the events and timestamps of its status. Everything goes in with
    executemany batches, not the ORM one by one."""
    rng = random.Random(seed)
    async with db.reading() as session:
        routes = {
            r.community: r.manager_id for r in (await session.exec(select(RoutingRule))).all()
        }
        categories = list((await session.exec(select(Category.id))).all())
    communities = sorted(routes)
    residents = [f"bench-resident-{i}" for i in range(1000)]
    people = [
        {
            "id": rid,
            "name": f"居民{i}",
            "role": "resident",
            "phone": f"+86136{i:08d}",
            "telegram_id": None,
            "language": "zh",
            "supervisor_id": None,
            "community_id": communities[i % len(communities)],
            "building": None,
            "active": True,
            "source": "sms",
            "telegram_unreachable": False,
        }
        for i, rid in enumerate(residents)
    ]
    statuses: Counter[str] = Counter()
    cases: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    async with db.engine.begin() as conn:
        await conn.execute(insert(Person.__table__), people)  # type: ignore[attr-defined]
        for number in range(1, mix.cases + 1):
            case, case_events = _case(number, mix, now, rng, routes, categories, residents)
            statuses[case["status"]] += 1
            cases.append(case)
            events += case_events
            if len(cases) >= BATCH:
                await _flush(conn, cases, events)
        await _flush(conn, cases, events)
        if db.engine.dialect.name == "postgresql":  # numbers were given: move the sequence on
            sequence = "pg_get_serial_sequence('cases', 'number')"
            await conn.execute(text(f"SELECT setval({sequence}, max(number)) FROM cases"))
    return statuses


async def _flush(
    conn: AsyncConnection, cases: list[dict[str, Any]], events: list[dict[str, Any]]
) -> None:
    if cases:
        await conn.execute(insert(Case.__table__), cases)  # type: ignore[attr-defined]
        await conn.execute(insert(CaseEvent.__table__), events)  # type: ignore[attr-defined]
    cases.clear()
    events.clear()


def _case(
    number: int,
    mix: Mix,
    now: datetime,
    rng: random.Random,
    routes: dict[str, str],
    categories: list[str],
    residents: list[str],
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One case row and its event rows. Numbers 1..due are the due ones (spread in time)."""
    community = sorted(routes)[number % len(routes)]
    manager = routes[community]
    resident = residents[number % len(residents)]
    due = number <= mix.due
    closed = not due and rng.random() < mix.closed_share
    if due:  # reported 31-90 minutes ago, never acknowledged: the first reminder is due
        created = now - timedelta(minutes=rng.uniform(31, 90))
    elif closed:
        created = now - timedelta(days=rng.uniform(3, 365))
    else:  # open, reported in the last 25 minutes: its acknowledge deadline is ahead
        created = now - timedelta(minutes=rng.uniform(0, 25))
    ack_due, resolve_due = created + timedelta(minutes=30), created + timedelta(hours=72)
    row: dict[str, Any] = {
        "number": number,
        "status": "assigned",
        "community_id": community,
        "category_id": categories[number % len(categories)],
        "location": f"{number % 200 + 1}号楼",
        "description": f"压测诉求 {number}：楼下的快递堆在马路上，出行不便",
        "photos": [],
        "channel": "sms" if number % 2 else "telegram",
        "resident_id": resident,
        "manager_id": manager,
        "escalation_level": 0,
        "reopen_count": 0,
        "reminders_sent": 0,
        "rating": None,
        "duplicate_of": None,
        "ack_due_at": ack_due,
        "resolve_due_at": resolve_due,
        "next_due_at": ack_due,
        "created_at": created,
        "acknowledged_at": None,
        "resolved_at": None,
        "closed_at": None,
        "updated_at": created,
    }
    kinds = [("reported", resident, row["channel"], created), ("routed", None, "system", created)]
    if due:
        row["next_due_at"] = ack_due
    elif closed:
        acked = created + timedelta(minutes=rng.uniform(2, 40))
        resolved = acked + timedelta(hours=rng.uniform(1, 80))
        closed_at = resolved + timedelta(hours=rng.uniform(0.1, 48))
        rating = rng.choices(list(Rating), weights=(7, 2, 1))[0]
        row.update(
            status="closed",
            rating=rating.value,
            acknowledged_at=acked,
            resolved_at=resolved,
            closed_at=closed_at,
            next_due_at=None,
            updated_at=closed_at,
        )
        kinds += [
            ("acknowledged", manager, "telegram", acked),
            ("resolved", manager, "telegram", resolved),
            ("rated", resident, row["channel"], closed_at),
        ]
    else:
        row["next_due_at"] = ack_due + timedelta(days=rng.uniform(0, 30))
    event_rows = [
        {
            "case_number": number,
            "at": at,
            "kind": kind,
            "actor_id": actor,
            "channel": channel,
            "note": "",
            "data": {},
        }
        for kind, actor, channel, at in kinds
    ]
    return row, event_rows
