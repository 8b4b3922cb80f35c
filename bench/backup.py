"""Backup drill: ``wolaiban run`` takes SMS and Telegram reports at a steady rate while
``wolaiban db backup`` runs three times; each backup is restored into a fresh database and ``run``
is started on it.

``run`` is a real subprocess on a SQLite file (filled beforehand with many cases, so a copy takes
a while), in webhook mode, against the Telegram and Twilio emulators served by this script. A
load generator posts, at a fixed rate whatever the answers, signed inbound SMS (a report each, from
a phone never seen before) and the press that submits a guided Telegram report (its earlier steps
played beforehand, untimed); every report carries a marker that finds its case. First a baseline
window without backups, then the drill window, in which ``wolaiban db backup`` (a real process)
runs three times. Afterwards each backup is restored with ``wolaiban db restore`` into a fresh
file, and:

- every report answered (200) before that backup began is in the restored database once, and no
  report is there twice;
- ``PRAGMA integrity_check`` of the restored file is ``ok``, and what the restore printed is what
  the backup printed;
- ``wolaiban run`` starts on the restored file: ``/healthz`` answers 200, ``/readyz`` reads the
  database;
- no request failed, in either window.

The intake's answer times (p50, p99; counted from the moment a request was due) during a backup
are printed beside those of the baseline window, measured in the same run; they are shown, not
judged.

    python -m bench.backup            # 100,000 cases; 60 reports/s; 30 s baseline, 45 s drill
    python -m bench.backup --quick    # 5,000 cases; 30 reports/s; 8 s baseline, 15 s drill
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import re
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import httpx
from twilio.request_validator import RequestValidator

from bench.bulk import Mix, fill, prepare
from bench.common import (
    Figure,
    bench_directory,
    bench_env,
    emulators,
    machine_note,
    percentile,
    print_table,
)
from bench.common import wolaiban_run as running
from bench.intake_load import client_for, closed_loop, post_one
from bench.intake_payloads import COMMUNITY_NUMBERS, SMS_PATH, Payloads, Post
from db.engine import open_database
from sandbox.child import Process, clean_env, wait_ready
from sandbox.harness import Emulators, sqlite_url
from sandbox.serve import free_port
from sandbox.twilio import inbound_params

PYTHON = sys.executable
MARKER = re.compile(r"bkd-[st]\d{6}")
MOMENTS = (0.2, 0.5, 0.8)  # when, in the drill window, each backup starts (one after another)
# ``wolaiban db …`` before bot/cli/main.py lists the backup commands: the same handlers, parsed by
# their own parser, in a process of their own (what main adds is the printing).
RUNNER = """
import argparse, asyncio, sys
from bot.cli.backups import HANDLERS, add_db_parsers
from bot.cli.env import Env
from bot.config import load_settings
parser = argparse.ArgumentParser(prog="wolaiban db")
add_db_parsers(parser.add_subparsers(dest="db", required=True))
args = parser.parse_args(sys.argv[1:])
result = asyncio.run(HANDLERS["db " + args.db](args, Env(load_settings())))
print(result.text, file=sys.stdout if result.code == 0 else sys.stderr)
sys.exit(result.code)
"""


def db_command(*args: str) -> list[str]:
    """``wolaiban db ARGS…`` as a process: through ``bot.cli`` once it has the backup commands."""
    from bot.cli import commands

    if "db backup" in commands.HANDLERS:
        return [PYTHON, "-m", "bot.cli", "db", *args]
    return [PYTHON, "-c", RUNNER, *args]


# ---- the reports --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Report:
    """One report: the requests played before the clock starts, and the timed one that submits."""

    marker: str
    channel: str
    setup: list[Post]
    timed: Post


class Reports:
    """SMS reports and guided Telegram reports, each with a marker of its own in its text."""

    def __init__(self, public_url: str, emu: Emulators) -> None:
        assert emu.twilio is not None
        self._url = f"{public_url.rstrip('/')}{SMS_PATH}"
        self._validator = RequestValidator(emu.twilio.auth_token)
        self._account = emu.twilio.account_sid
        self._payloads = Payloads(public_url, emu.twilio.auth_token, emu)
        self._n = itertools.count(1)

    def next(self) -> Report:
        """The next report, SMS and Telegram in turn."""
        n = next(self._n)
        return self._sms(n) if n % 2 else self._telegram(n)

    def _sms(self, n: int) -> Report:
        marker = f"bkd-s{n:06d}"
        to = COMMUNITY_NUMBERS[n % len(COMMUNITY_NUMBERS)]
        body = f"快递堆在{n % 9 + 1}号楼门口没人管 {marker}"
        params = inbound_params(
            f"SM{n:032x}", f"+86137{n:08d}", to, body, account_sid=self._account
        )
        headers = {
            "X-Twilio-Signature": str(self._validator.compute_signature(self._url, params)),
            "Content-Type": "application/x-www-form-urlencoded",
        }
        return Report(marker, "sms", [], Post(SMS_PATH, headers, urlencode(params).encode(), True))

    def _telegram(self, n: int) -> Report:
        marker, p = f"bkd-t{n:06d}", self._payloads
        user = p.new_user()
        steps = [
            p.says(user, "/report"),
            p.presses(user, f"r:category:{n % 10}"),
            p.presses(user, f"r:community:{n % 6}"),
            p.says(user, f"{n % 200 + 1}号楼一层"),
            p.says(user, f"楼道里的灯坏了 {marker}"),
            p.presses(user, "r:photos:skip"),
        ]
        return Report(marker, "telegram", steps, p.presses(user, "r:confirm:ok", report=True))


# ---- the load -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    """What became of one timed request: when it was due and answered (perf_counter), how."""

    marker: str
    due: float
    done: float
    status: int

    @property
    def seconds(self) -> float:
        """The answer time, counted from the moment it was due."""
        return self.done - self.due


async def steady(
    client: aiohttp.ClientSession, base: str, reports: list[Report], rate: float, started: float
) -> list[Answer]:
    """Post each report's timed request at ``rate`` per second from ``started``, whatever the
    answers (a late start counts against the server)."""

    async def one(report: Report, due: float) -> Answer:
        status = await post_one(client, base + report.timed.path, report.timed)
        return Answer(report.marker, due, time.perf_counter(), status)

    tasks = []
    for i, report in enumerate(reports):
        due = started + i / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        tasks.append(asyncio.create_task(one(report, due)))
    return list(await asyncio.gather(*tasks))


# ---- the backups --------------------------------------------------------------------------------


@dataclass
class Backup:
    """One ``wolaiban db backup``: its file, when it ran (perf_counter), what it printed."""

    path: Path
    started: float = 0.0
    ended: float = 0.0
    code: int = -1
    said: str = ""
    restored: str = ""
    restore_code: int = -1
    integrity: str = ""
    answered_before: int = 0
    present_once: int = 0
    doubled: int = 0
    healthz: int = 0
    readyz_database: str = ""
    size_mb: float = 0.0  # the file's, read when it was made (the folder may be gone later)

    @property
    def seconds(self) -> float:
        """How long the command took, start to exit."""
        return self.ended - self.started

    @property
    def passed(self) -> bool:
        """Made, restored as made, intact, complete, and ``run`` starts on it."""
        return (
            self.code == 0
            and self.restore_code == 0
            and printed_counts(self.said) == printed_counts(self.restored) != ""
            and self.integrity == "ok"
            and self.present_once == self.answered_before
            and self.doubled == 0
            and self.healthz == 200
            and self.readyz_database == "ok"
        )


def printed_counts(text: str) -> str:
    """``N cases (the last #N), N people`` of what a backup or a restore printed."""
    found = re.search(r"\d+ cases \(the last [#\d-]+\), \d+ people", text)
    return found[0] if found else ""


async def db_process(url: str, *args: str) -> tuple[int, str]:
    """``wolaiban db ARGS…`` on ``url`` (in English): its exit code and what it printed."""
    env = clean_env(DATABASE_URL=url, DEFAULT_LANGUAGE="en", LOG_LEVEL="WARNING")
    child = await asyncio.create_subprocess_exec(
        *db_command(*args), env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await child.communicate()
    return child.returncode or 0, (out + err).decode(errors="replace").strip()


async def back_up(url: str, backup: Backup, at: float) -> None:
    """Wait for the moment ``at``, then run ``wolaiban db backup``."""
    await asyncio.sleep(max(0.0, at - time.perf_counter()))
    backup.started = time.perf_counter()
    backup.code, backup.said = await db_process(url, "backup", str(backup.path))
    backup.ended = time.perf_counter()
    if backup.code == 0:
        backup.size_mb = (await asyncio.to_thread(backup.path.stat)).st_size / 1e6


async def back_up_in_turn(url: str, backups: list[Backup], moments: list[float]) -> None:
    """The backups one after another, each at its moment or when the one before ends."""
    for backup, at in zip(backups, moments, strict=True):
        await back_up(url, backup, at)


# ---- each backup restored and checked -----------------------------------------------------------


def markers_in(path: Path) -> Counter[str]:
    """How often each report's marker is in the cases of the SQLite file at ``path``."""
    conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT description FROM cases WHERE description LIKE '%bkd-%'")
        return Counter(m for (text,) in rows for m in MARKER.findall(text))
    finally:
        conn.close()


def integrity_of(path: Path) -> str:
    """``PRAGMA integrity_check`` of the file (its first line)."""
    conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


async def restore_and_check(backup: Backup, answers: list[Answer], folder: Path, n: int) -> None:
    """Restore ``backup`` into a fresh file, check what it holds, and start ``run`` on it."""
    if backup.code != 0:
        return
    fresh = folder / f"restored-{n}.db"
    backup.restore_code, backup.restored = await db_process(
        sqlite_url(fresh), "restore", str(backup.path)
    )
    if backup.restore_code != 0:
        return
    backup.integrity = integrity_of(fresh)
    found = markers_in(fresh)
    before = [a.marker for a in answers if a.status == 200 and a.done < backup.started]
    backup.answered_before = len(before)
    backup.present_once = sum(1 for m in before if found[m] == 1)
    backup.doubled = sum(1 for count in found.values() if count > 1)
    port = free_port()
    env = clean_env(DATABASE_URL=sqlite_url(fresh), HTTP_PORT=str(port), LOG_LEVEL="WARNING")
    process = Process(env, folder / f"restored-{n}.log", cwd=folder)
    process.start()
    try:
        await wait_ready(process, "/healthz")
        async with httpx.AsyncClient(timeout=5.0) as client:
            backup.healthz = (await client.get(f"{process.url}/healthz")).status_code
            backup.readyz_database = (await client.get(f"{process.url}/readyz")).json()["database"]
    finally:
        process.stop()


# ---- the drill ----------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one drill found."""

    cases: int
    rate: float
    baseline: list[Answer] = field(default_factory=list)
    drill: list[Answer] = field(default_factory=list)
    backups: list[Backup] = field(default_factory=list)
    live_missing: int = 0  # answered reports with no case in the live database afterwards

    def during(self) -> list[float]:
        """The drill window's answer times of requests due while a backup ran."""
        spans = [(b.started, b.ended) for b in self.backups]
        return [a.seconds for a in self.drill if any(s <= a.due <= e for s, e in spans)]

    def outside(self) -> list[float]:
        """The drill window's answer times of requests due while no backup ran."""
        spans = [(b.started, b.ended) for b in self.backups]
        return [a.seconds for a in self.drill if not any(s <= a.due <= e for s, e in spans)]

    @property
    def errors(self) -> int:
        """Timed requests not answered 200, in both windows."""
        return sum(1 for a in [*self.baseline, *self.drill] if a.status != 200)

    @property
    def passed(self) -> bool:
        """Every correctness target met (answer times are shown, not judged)."""
        made = len(self.backups) == len(MOMENTS)
        complete = not self.errors and not self.live_missing
        return made and complete and all(b.passed for b in self.backups)


async def prefill(url: str, cases: int) -> None:
    """The newest schema, the example directory and ``cases`` cases (90 % closed)."""
    db = open_database(url)
    try:
        now = datetime.now(UTC)
        await prepare(db, lambda: now)
        if cases:
            await fill(db, Mix(cases=cases, closed_share=0.9), now)
    finally:
        await db.dispose()


async def drill(
    *, folder: Path, cases: int, rate: float, baseline_seconds: float, drill_seconds: float
) -> Outcome:
    """Run the drill in ``folder``: ``cases`` cases beforehand, reports at ``rate`` per second
    for ``baseline_seconds`` without backups, then ``drill_seconds`` with three."""
    url = sqlite_url(folder / "wolaiban.db")
    await prefill(url, cases)
    outcome = Outcome(cases=cases, rate=rate)
    outcome.backups = [Backup(folder / f"backup-{i + 1}.db") for i in range(len(MOMENTS))]
    async with emulators() as emu:
        # Every report a case of its own, counted by its marker (common.NO_FOLLOW says why).
        env = bench_env(url, emu, port=free_port(), directory=bench_directory(folder))
        reports = Reports(env["PUBLIC_URL"], emu)
        first = [reports.next() for _ in range(max(int(rate * baseline_seconds), 1))]
        second = [reports.next() for _ in range(max(int(rate * drill_seconds), 1))]
        async with running(env, folder) as run, client_for(200) as client:
            setup = [r.setup for r in [*first, *second] if r.setup]
            played = await closed_loop(client, run.url, setup, 20, retries=5)
            if played.errors:
                raise RuntimeError(f"the guided reports' first steps failed: {played.statuses}")
            outcome.baseline = await steady(client, run.url, first, rate, time.perf_counter())
            started = time.perf_counter()
            moments = [started + f * drill_seconds for f in MOMENTS]
            load = steady(client, run.url, second, rate, started)
            outcome.drill, _ = await asyncio.gather(
                load, back_up_in_turn(url, outcome.backups, moments)
            )
    answered = [a for a in [*outcome.baseline, *outcome.drill] if a.status == 200]
    live = markers_in(folder / "wolaiban.db")
    outcome.live_missing = sum(1 for a in answered if live[a.marker] != 1)
    for n, backup in enumerate(outcome.backups, 1):
        await restore_and_check(backup, answered, folder, n)
    return outcome


# ---- the table ----------------------------------------------------------------------------------


def figures(outcome: Outcome) -> list[Figure]:
    """The drill's figures: answer times beside the baseline window's, then each backup."""
    base = [a.seconds for a in outcome.baseline]
    during, outside = outcome.during(), outcome.outside()

    def ms(values: list[float], p: float) -> float | None:
        return percentile(values, p) * 1000 if values else None

    rows = [
        Figure(
            "reports posted (drill window; baseline window)",
            len(outcome.drill),
            "",
            len(outcome.baseline),
            digits=0,
        ),
        Figure("requests not answered 200", outcome.errors, "", None, "0", not outcome.errors, 0),
        Figure(
            "answered reports not in the live database once",
            outcome.live_missing,
            "",
            None,
            "0",
            not outcome.live_missing,
            0,
        ),
        Figure("requests due during a backup", len(during), "", None, digits=0),
        Figure("answer p50 during a backup", ms(during, 50), "ms", ms(base, 50)),
        Figure("answer p99 during a backup", ms(during, 99), "ms", ms(base, 99)),
        Figure("answer p99, drill window, no backup running", ms(outside, 99), "ms", ms(base, 99)),
        Figure("answer max during a backup", ms(during, 100), "ms", ms(base, 100)),
    ]
    for n, b in enumerate(outcome.backups, 1):
        target = f"{b.answered_before} of {b.answered_before}"
        rows += [
            Figure(f"backup {n}: seconds (the whole command)", b.seconds, "s", digits=2),
            Figure(f"backup {n}: size", b.size_mb, "MB"),
            Figure(
                f"backup {n}: made and restored (exit 0, 0)",
                b.code + b.restore_code,
                "",
                None,
                "0",
                b.code == 0 == b.restore_code,
                0,
            ),
            Figure(
                f"backup {n}: reports answered before it began, restored once",
                b.present_once,
                "",
                b.answered_before,
                target,
                b.present_once == b.answered_before and not b.doubled,
                0,
            ),
            Figure(
                f"backup {n}: integrity_check ok, counts as printed, run starts (/healthz)",
                1.0 if b.passed else 0.0,
                "",
                None,
                "yes",
                b.passed,
                0,
            ),
        ]
    return rows


def describe(outcome: Outcome) -> str:
    """What each backup and restore printed, and what was found."""
    lines = []
    for n, b in enumerate(outcome.backups, 1):
        lines += [
            f"backup {n} ({b.seconds:.2f} s, exit {b.code}): {b.said}",
            f"  restore (exit {b.restore_code}): {b.restored}",
            f"  integrity {b.integrity!r}; answered before it began {b.answered_before}, restored "
            f"once {b.present_once}, markers doubled {b.doubled}; restored run: /healthz "
            f"{b.healthz}, /readyz database {b.readyz_database!r}",
        ]
    return "\n".join(lines)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.backup", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--cases", type=int, default=None, help="cases beforehand (100000)")
    parser.add_argument("--rate", type=float, default=None, help="reports per second (60)")
    parser.add_argument("--baseline", type=float, default=None, help="baseline seconds (30)")
    parser.add_argument("--window", type=float, default=None, help="drill seconds (45)")
    parser.add_argument("--quick", action="store_true", help="5,000 cases, 30/s, 8 s + 15 s")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="keep databases and logs in DIR")
    return parser.parse_args(argv)


# ---- the database alone: a writer's commits while a copy is made -------------------------------

# A writer process on the file, as ``run``'s writer commits (BEGIN IMMEDIATE, WAL,
# synchronous=NORMAL): one small row every 5 ms until the stop file appears; it prints each
# commit as [monotonic start, seconds] (CLOCK_MONOTONIC is the machine's, so the two processes'
# times compare).
WRITER = """
import json, os, sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
conn.execute("PRAGMA journal_mode=WAL")
conn.execute("PRAGMA synchronous=NORMAL")
conn.execute("CREATE TABLE IF NOT EXISTS bench_writer (id INTEGER PRIMARY KEY, t TEXT)")
done = []
while not os.path.exists(sys.argv[2]):
    began = time.monotonic()
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO bench_writer (t) VALUES (?)", ("x" * 400,))
    conn.execute("COMMIT")
    done.append([began, time.monotonic() - began])
    time.sleep(0.005)
print(json.dumps(done))
"""


@dataclass
class Commits:
    """A writer's commit times on the database file: alone, and while a backup copies it."""

    idle: list[float] = field(default_factory=list)
    during: list[float] = field(default_factory=list)
    copy_seconds: float = 0.0


async def commits(path: Path, stop: Path, work: float | None = None) -> tuple[list[float], float]:
    """The writer's commit times over ``work`` seconds alone, or (None) while the copy and check
    of a daily backup (the same code as ``db backup``) run: the commits that began meanwhile."""
    await asyncio.to_thread(stop.unlink, missing_ok=True)
    child = await asyncio.create_subprocess_exec(
        PYTHON, "-c", WRITER, str(path), str(stop), stdout=asyncio.subprocess.PIPE
    )
    await asyncio.sleep(0.5)
    began = time.monotonic()
    if work is None:
        from db.backup import back_up_sqlite, in_background
        from db.schema import newest_revision

        target = path.with_name("writer-copy.db")
        await asyncio.to_thread(target.unlink, missing_ok=True)
        head = newest_revision()
        await in_background(lambda: back_up_sqlite(path, target, head=head))
    else:
        await asyncio.sleep(work)
    ended = time.monotonic()
    await asyncio.to_thread(stop.touch)
    out, _ = await child.communicate()
    return [d for at, d in json.loads(out) if began <= at <= ended], ended - began


async def writer_commits(path: Path) -> Commits:
    """The writer alone for 4 s, then while a backup is made."""
    stop = path.with_name("writer.stop")
    idle, _ = await commits(path, stop, 4.0)
    during, seconds = await commits(path, stop)
    return Commits(idle, during, seconds)


def commit_figures(found: Commits) -> list[Figure]:
    """The writer's commit times during the copy beside its times alone."""

    def ms(values: list[float], p: float) -> float | None:
        return percentile(values, p) * 1000 if values else None

    return [
        Figure(
            "commits (during the copy; alone)", len(found.during), "", len(found.idle), digits=0
        ),
        Figure("copy and integrity check", found.copy_seconds, "s", digits=2),
        Figure("commit p50", ms(found.during, 50), "ms", ms(found.idle, 50), digits=2),
        Figure("commit p99", ms(found.during, 99), "ms", ms(found.idle, 99), digits=2),
        Figure("commit max", ms(found.during, 100), "ms", ms(found.idle, 100), digits=2),
    ]


async def bench(args: argparse.Namespace) -> tuple[Outcome, Commits]:
    """The drill at the size asked for, then a writer's commits while its database is copied."""
    quick = args.quick
    cases = args.cases if args.cases is not None else (5_000 if quick else 100_000)
    rate = args.rate or (30.0 if quick else 60.0)
    baseline = args.baseline or (8.0 if quick else 30.0)
    window = args.window or (15.0 if quick else 45.0)
    with tempfile.TemporaryDirectory(prefix="wolaiban-backup-") as scratch:
        where = args.keep or Path(scratch)
        where.mkdir(parents=True, exist_ok=True)
        outcome = await drill(
            folder=where, cases=cases, rate=rate, baseline_seconds=baseline, drill_seconds=window
        )
        return outcome, await writer_commits(where / "wolaiban.db")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the drill, print its table; 1 when a target was missed."""
    args = parse(argv)
    print(machine_note(), flush=True)
    outcome, found = asyncio.run(bench(args))
    print(describe(outcome))
    title = (
        f"Backup drill: {outcome.cases:,} cases beforehand, {outcome.rate:g} reports/s (half SMS, "
        f"half Telegram), {len(outcome.backups)} backups during the drill window; baseline: the "
        "window before, same rate, no backup"
    )
    misses = print_table(title, figures(outcome))
    print_table(
        "The database alone: a writer process committing a row every 5 ms on the drill's file "
        "while a backup copies and checks it (in a thread, as the daily backup does); baseline: "
        "the writer alone",
        commit_figures(found),
    )
    print(f"\n{machine_note()}")
    passed = outcome.passed and not misses
    print(f"backup drill: {'all targets met' if passed else 'TARGET MISSED'}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
