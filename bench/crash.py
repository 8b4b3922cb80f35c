"""Crash drill: residents report by Telegram and SMS while ``wolaiban run`` is killed (SIGKILL) at
random moments and restarted at once.

The process runs as a real subprocess on a SQLite file, in webhook mode, against the Telegram and
Twilio emulators served by this script. Telegram residents walk the guided ``/report``; SMS
residents text a community's number (signed, each from a number of its own). A delivery whose
connection failed, or that was not answered 200, is delivered again — the same update (Telegram's
retry), the same MessageSid (Twilio's) — until the bot takes it. Meanwhile a killer SIGKILLs the
process at random moments and restarts it. At the end the process is left to drain (the restarted
process takes a killed one's claims at once), then:

- every report is exactly one case;
- every outbox row is sent, and every sent message reached its chat or phone (none lost);
- messages delivered more than once ≤ the number of kills.

Baseline, in the same run: the same reports with no kill.

    python -m bench.crash            # 200 reports, 20 kills over 120 s
    python -m bench.crash --quick    # 40 reports, 5 kills over 30 s
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import col, select

from bench.drills_common import (
    ROOT,
    Received,
    Retries,
    Row,
    WebhookTelegram,
    add_directory_people,
    all_passed,
    drill_directory,
    example,
    machine_note,
    question,
    quiet_disconnects,
    received,
    table,
    text_until_taken,
    until,
    until_taken,
)
from bot.services.outbox import WAITING
from core.sms_text import as_sms
from db.engine import Database, open_database
from db.models import Case, OutboxMessage
from sandbox.serve import free_port, serving
from sandbox.telegram import Limits as TelegramLimits
from sandbox.telegram import Sent
from sandbox.twilio import TwilioEmulator, new_sid

WEBHOOK_SECRET = "crash-drill-webhook-secret"
FROM_NUMBER = "+8610690000099"
CHAT_INTERVAL = 0.1  # quick pacing per chat, as the end-to-end tests use (the drill is not pacing)
FIRST_RESIDENT = 700_001
MARKER = re.compile(r"drill-[ts]\d{4}")
STEP_SECONDS = 90.0  # a question may wait out a killed process's lease (20 s) and more
DRAIN_SECONDS = 150.0
CATEGORIES = 10  # in the example directory, "other" included
COMMUNITIES = 6


# ---- the process --------------------------------------------------------------------------------


class Process:
    """One ``wolaiban run`` at a time: started, killed and restarted at will; its log kept."""

    def __init__(self, env: dict[str, str], log: Path, cwd: Path) -> None:
        self.env, self.log, self.cwd = env, log, cwd
        self.child: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.kills = 0
        self.unexpected_exits: list[int] = []

    def start(self) -> None:
        """Start a new process."""
        with self.log.open("ab") as out:
            self.child = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "run"],
                env=self.env,
                cwd=self.cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.starts += 1

    def kill(self) -> None:
        """SIGKILL, as the kernel's OOM killer or a power cut would."""
        assert self.child is not None
        if self.child.poll() is not None:
            self.unexpected_exits.append(self.child.returncode)
        else:
            self.child.send_signal(signal.SIGKILL)
            self.child.wait()
        self.kills += 1

    def watch(self) -> None:
        """Restart a process that ended by itself (and remember it did)."""
        if self.child is not None and self.child.poll() is not None:
            self.unexpected_exits.append(self.child.returncode)
            self.start()

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not end within 15 s."""
        if self.child is None or self.child.poll() is not None:
            return
        self.child.terminate()
        try:
            self.child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.child.kill()
            self.child.wait()


# ---- the plan -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Report:
    """One resident's report: by Telegram (the guided flow) or by SMS, started ``at`` seconds in."""

    index: int
    channel: str  # "telegram" or "sms"
    at: float
    category: int
    community: int

    @property
    def marker(self) -> str:
        """The tag in the description that finds its case."""
        return f"drill-{self.channel[0]}{self.index:04d}"

    @property
    def user(self) -> int:
        """The Telegram resident's user id."""
        return FIRST_RESIDENT + self.index

    @property
    def phone(self) -> str:
        """The SMS resident's number."""
        return f"+86137{self.index:08d}"


def plan(reports: int, window: float, kills: int, seed: int) -> tuple[list[Report], list[float]]:
    """Reports (half by each channel, shuffled) starting at random moments over ``window``
    seconds, and the ``kills`` random moments of the SIGKILLs in the same window."""
    rng = random.Random(seed)
    channels = ["telegram", "sms"] * (reports // 2) + ["telegram"] * (reports % 2)
    rng.shuffle(channels)
    planned = [
        Report(
            index=i,
            channel=channel,
            at=rng.uniform(0, window),
            category=rng.randrange(CATEGORIES),
            community=rng.randrange(COMMUNITIES),
        )
        for i, channel in enumerate(channels)
    ]
    moments = sorted(rng.uniform(0.5, window) for _ in range(kills))
    return planned, moments


# ---- the world ----------------------------------------------------------------------------------


@dataclass
class World:
    """The emulators, the process and what happened to the reports."""

    telegram: WebhookTelegram
    twilio: TwilioEmulator
    process: Process
    public_url: str
    community_numbers: list[str]
    retries: Retries = field(default_factory=Retries)
    failures: list[str] = field(default_factory=list)
    finished: int = 0


async def _question(world: World, user: int, step: str, seen: int) -> Sent:
    return await question(world.telegram, user, step, seen=seen, seconds=STEP_SECONDS)


async def telegram_report(world: World, report: Report) -> None:
    """The guided report, each answer delivered until the bot takes it."""
    telegram, user = world.telegram, report.user
    description = f"快递车堵住了单元门口 {report.marker}"

    async def say(text: str, then: str) -> Sent:
        seen = len(telegram.inbox(user))
        await until_taken(telegram, lambda: telegram.user_says(user, text), retries=world.retries)
        return await _question(world, user, then, seen)

    async def press(question: Sent, data: str) -> int:
        return await until_taken(
            telegram, lambda: telegram.user_presses(user, question, data), retries=world.retries
        )

    async def choose(question: Sent, data: str, then: str) -> Sent:
        seen = len(telegram.inbox(user))
        await press(question, data)
        return await _question(world, user, then, seen)

    asked = await say("/report", "category")
    asked = await choose(asked, f"r:category:{report.category}", "community")
    asked = await choose(asked, f"r:community:{report.community}", "location")
    await say(f"{report.index % 9 + 1}号楼东侧", "description")
    asked = await say(description, "photos")
    asked = await choose(asked, "r:photos:skip", "confirm")
    await press(asked, "r:confirm:ok")


async def sms_report(world: World, report: Report) -> None:
    """A text to a community's number, posted again (same MessageSid) until answered 200."""
    await text_until_taken(
        world.twilio,
        report.phone,
        world.community_numbers[report.community],
        f"快递堆在{report.index % 9 + 1}号楼门口没人管 {report.marker}",
        url=f"{world.public_url}/twilio/sms",
        sid=new_sid("SM"),
        seconds=STEP_SECONDS,
        retries=world.retries,
    )


async def resident(world: World, report: Report, started: float) -> None:
    """Wait for the report's moment, then report; a failure is noted, not raised."""
    await asyncio.sleep(max(0.0, started + report.at - time.monotonic()))
    try:
        if report.channel == "telegram":
            await telegram_report(world, report)
        else:
            await sms_report(world, report)
        world.finished += 1
    except Exception as error:  # the drill goes on; the report is counted as not submitted
        world.failures.append(f"{report.marker}: {type(error).__name__}: {error}")


async def killer(world: World, moments: Sequence[float], started: float) -> None:
    """SIGKILL the process at each moment and start it again at once."""
    for moment in moments:
        await asyncio.sleep(max(0.0, started + moment - time.monotonic()))
        world.process.kill()
        world.process.start()


async def watcher(world: World) -> None:
    """Restart the process if it ever ends by itself."""
    while True:
        await asyncio.sleep(0.5)
        world.process.watch()


# ---- the outcome --------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one drill run found."""

    reports: int
    kills: int
    submitted: int
    cases_once: int
    missing: list[str]
    doubled: list[str]
    outbox_rows: int
    outbox_sent: int
    not_sent: dict[str, int]
    lost: int
    lost_examples: list[str]
    duplicates: int
    duplicate_examples: list[str]
    same_text_twice: int
    retries: Retries
    unexpected_exits: list[int]
    failures: list[str]
    drain_seconds: float
    seconds: float
    log: Path
    log_errors: int

    @property
    def passed(self) -> bool:
        """Every target met."""
        return (
            self.cases_once == self.reports
            and self.outbox_sent == self.outbox_rows
            and self.lost == 0
            and self.duplicates <= self.kills
            and not self.unexpected_exits
        )


async def _outbox(db: Database) -> list[OutboxMessage]:
    async with db.reading() as session:
        return list(
            (await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all()
        )


async def _drain(db: Database, world: World, seconds: float) -> float:
    """Wait until no outbox row waits any more; the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        rows = await _outbox(db)
        if rows and all(r.status not in WAITING for r in rows):
            break
        world.process.watch()
        await asyncio.sleep(0.5)
    return time.monotonic() - started


def _expected_text(row: OutboxMessage) -> str:
    """What the chat or phone shows for a row (an API-sent SMS carries its buttons as text)."""
    if row.channel == "sms" and not (row.provider_message_id or "").startswith("twiml:"):
        return as_sms(row.text, row.buttons, row.language)
    return row.text


def _compare(rows: list[OutboxMessage], got: Received) -> tuple[int, list[str], int, list[str]]:
    """Sent rows never received (lost), and messages received more often than sent (extra)."""
    expected: Counter[tuple[str, str]] = Counter()
    for row in rows:
        if row.status == "sent" and row.edit_of is None:
            expected[(f"{row.channel}:{row.address}", _expected_text(row))] += 1
    seen: Counter[tuple[str, str]] = Counter()
    for chat, texts in got.telegram.items():
        seen.update((f"telegram:{chat}", text) for text in texts)
    for phone, texts in got.sms.items():
        seen.update((f"sms:{phone}", text) for text in texts)
    lost = expected - seen
    extra = seen - expected
    lost_examples = [f"{where}: {text[:60]!r} x{n}" for (where, text), n in lost.items()]
    extra_examples = [f"{where}: {text[:60]!r} +{n}" for (where, text), n in extra.items()]
    return sum(lost.values()), lost_examples[:5], sum(extra.values()), extra_examples[:5]


async def drill(
    *,
    reports: int,
    kills: int,
    window: float,
    seed: int,
    folder: Path,
    quiet: bool = False,
) -> Outcome:
    """Run the drill once in ``folder``: ``reports`` reports over ``window`` seconds, ``kills``
    SIGKILLs at random moments in the same window."""
    quiet_disconnects()  # a killed process leaves its requests to the emulators half-sent
    planned, moments = plan(reports, window, kills, seed)
    directory = example()
    numbers = [c.sms_number for c in sorted(directory.communities, key=lambda c: c.id)]
    if None in numbers or len(numbers) != COMMUNITIES:
        raise RuntimeError("the drill needs the example directory's six community numbers")
    telegram = WebhookTelegram(limits=TelegramLimits(private_interval=CHAT_INTERVAL))
    add_directory_people(telegram, directory)
    for report in planned:
        if report.channel == "telegram":
            telegram.add_user(report.user, f"居民{report.index}", "zh")
    twilio = TwilioEmulator()
    database = folder / "wolaiban.db"
    log = folder / "run.log"
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    started_all = time.monotonic()
    async with serving(telegram.app) as telegram_url, serving(twilio.app) as twilio_url:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": f"sqlite+aiosqlite:///{database}",
            "TELEGRAM_BOT_TOKEN": telegram.token,
            "TELEGRAM_API_URL": telegram_url,
            "TELEGRAM_WEBHOOK_URL": f"{public}/telegram/webhook",
            "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "TELEGRAM_CHAT_INTERVAL": str(CHAT_INTERVAL),
            "TWILIO_ACCOUNT_SID": twilio.account_sid,
            "TWILIO_AUTH_TOKEN": twilio.auth_token,
            "TWILIO_FROM_NUMBER": FROM_NUMBER,
            "TWILIO_API_URL": twilio_url,
            "SMS_PER_SECOND": "10",
            "PUBLIC_URL": public,
            "HTTP_PORT": str(port),
            "DIRECTORY_FILE": str(drill_directory(folder)),
            "SWEEP_SECONDS": "1",
            "LOG_LEVEL": "INFO",
        }
        process = Process(env, log, folder)
        world = World(telegram, twilio, process, public, [str(n) for n in numbers])
        process.start()
        db = open_database(f"sqlite+aiosqlite:///{database}")
        watching = asyncio.create_task(watcher(world))
        try:
            if not await until(lambda: telegram.webhook is not None, 60.0, step=0.1):
                raise RuntimeError(f"wolaiban run never set its webhook; see {log}")
            started = time.monotonic()
            await asyncio.gather(
                killer(world, moments, started),
                *(resident(world, report, started) for report in planned),
            )
            drain = await _drain(db, world, DRAIN_SECONDS)
            rows = await _outbox(db)
            async with db.reading() as session:
                cases = list((await session.exec(select(Case))).all())
        finally:
            watching.cancel()
            process.stop()
            await db.dispose()
            await twilio.settle()
    got = received(telegram, twilio)
    found = Counter(m for case in cases for m in MARKER.findall(case.description))
    markers = [r.marker for r in planned]
    lost, lost_examples, extra, extra_examples = _compare(rows, got)
    statuses = Counter(r.status for r in rows if r.status != "sent")
    text = log.read_text(encoding="utf-8", errors="replace")
    outcome = Outcome(
        reports=reports,
        kills=process.kills,
        submitted=world.finished,
        cases_once=sum(1 for m in markers if found[m] == 1),
        missing=[m for m in markers if found[m] == 0],
        doubled=[m for m in markers if found[m] > 1],
        outbox_rows=len(rows),
        outbox_sent=sum(1 for r in rows if r.status == "sent"),
        not_sent=dict(statuses),
        lost=lost,
        lost_examples=lost_examples,
        duplicates=extra,
        duplicate_examples=extra_examples,
        same_text_twice=got.duplicate_count(),
        retries=world.retries,
        unexpected_exits=process.unexpected_exits,
        failures=world.failures,
        drain_seconds=drain,
        seconds=time.monotonic() - started_all,
        log=log,
        log_errors=text.count("Traceback"),
    )
    if not quiet:
        print(describe(outcome), file=sys.stderr)
    return outcome


def describe(outcome: Outcome) -> str:
    """The details behind a run's figures (what was missing, lost or duplicated)."""
    lines = [
        f"run with {outcome.kills} kills: {outcome.submitted}/{outcome.reports} reports "
        f"submitted, {outcome.seconds:.0f} s, drained in {outcome.drain_seconds:.1f} s, "
        f"{outcome.log_errors} tracebacks in {outcome.log}"
    ]
    for label, items in (
        ("no case", outcome.missing),
        ("more than one case", outcome.doubled),
        ("not sent", [f"{k}: {v}" for k, v in outcome.not_sent.items()]),
        ("lost", outcome.lost_examples),
        ("delivered more than once", outcome.duplicate_examples),
        ("driver failures", outcome.failures[:5]),
        ("unexpected exits", [str(c) for c in outcome.unexpected_exits]),
    ):
        if items:
            lines.append(f"  {label}: " + "; ".join(items[:5]))
    return "\n".join(lines)


def rows(drilled: Outcome, baseline: Outcome) -> list[Row]:
    """The table: the drill against the same run without kills."""
    n = drilled.reports
    return [
        Row("reports (half Telegram, half SMS)", n, baseline.reports, "-", None),
        Row("SIGKILL + restart", drilled.kills, baseline.kills, "-", None),
        Row("reports submitted", drilled.submitted, baseline.submitted, f"{n}", None),
        Row(
            "reports with exactly one case",
            drilled.cases_once,
            baseline.cases_once,
            f"{n} of {n}",
            drilled.cases_once == n,
        ),
        Row(
            "reports with no case / several",
            f"{len(drilled.missing)} / {len(drilled.doubled)}",
            f"{len(baseline.missing)} / {len(baseline.doubled)}",
            "0 / 0",
            None,
        ),
        Row(
            "outbox rows sent (%)",
            100 * drilled.outbox_sent / max(drilled.outbox_rows, 1),
            100 * baseline.outbox_sent / max(baseline.outbox_rows, 1),
            "100",
            drilled.outbox_sent == drilled.outbox_rows,
        ),
        Row("outbox rows", drilled.outbox_rows, baseline.outbox_rows, "-", None),
        Row("sent but never received (lost)", drilled.lost, baseline.lost, "0", drilled.lost == 0),
        Row(
            "delivered more than once",
            drilled.duplicates,
            baseline.duplicates,
            f"<= {drilled.kills} (kills)",
            drilled.duplicates <= drilled.kills,
        ),
        Row(
            "same text twice to one chat/phone",
            drilled.same_text_twice,
            baseline.same_text_twice,
            "-",
            None,
        ),
        Row(
            "deliveries repeated (Telegram / SMS)",
            f"{drilled.retries.telegram} / {drilled.retries.sms}",
            f"{baseline.retries.telegram} / {baseline.retries.sms}",
            "-",
            None,
        ),
        Row(
            "process ended by itself",
            len(drilled.unexpected_exits),
            len(baseline.unexpected_exits),
            "0",
            not drilled.unexpected_exits,
        ),
        Row("tracebacks in the bot's log", drilled.log_errors, baseline.log_errors, "-", None),
        Row(
            "drain after the last report (s)",
            drilled.drain_seconds,
            baseline.drain_seconds,
            "-",
            None,
        ),
        Row("run time (s)", drilled.seconds, baseline.seconds, "-", None),
    ]


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.crash", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--reports", type=int, default=None, help="reports (200)")
    parser.add_argument("--kills", type=int, default=None, help="SIGKILLs (20)")
    parser.add_argument("--window", type=float, default=None, help="seconds of reporting (120)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="40 reports, 5 kills, 30 s")
    parser.add_argument("--no-baseline", action="store_true", help="skip the run without kills")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="keep databases and logs in DIR")
    return parser.parse_args(argv)


async def bench(args: argparse.Namespace) -> tuple[Outcome, Outcome]:
    """The run without kills, then the drill."""
    reports = args.reports or (40 if args.quick else 200)
    kills = args.kills if args.kills is not None else (5 if args.quick else 20)
    window = args.window or (30.0 if args.quick else 120.0)
    with tempfile.TemporaryDirectory(prefix="wolaiban-crash-") as scratch:
        where = args.keep or Path(scratch)
        (where / "baseline").mkdir(parents=True, exist_ok=True)
        (where / "drill").mkdir(parents=True, exist_ok=True)
        drilled = await drill(
            reports=reports, kills=kills, window=window, seed=args.seed, folder=where / "drill"
        )
        baseline = (
            drilled
            if args.no_baseline
            else await drill(
                reports=reports, kills=0, window=window, seed=args.seed, folder=where / "baseline"
            )
        )
    return drilled, baseline


def main(argv: Sequence[str] | None = None) -> int:
    """Run the drill and its baseline, print the table; 1 when a target was missed."""
    args = parse(argv)
    drilled, baseline = asyncio.run(bench(args))
    title = (
        f"Crash drill: {drilled.reports} reports, SIGKILL at {drilled.kills} random moments; "
        "baseline: the same reports, no kill"
    )
    result = rows(drilled, baseline)
    print(table(title, result))
    print()
    print(machine_note())
    passed = all_passed(result) and not drilled.unexpected_exits
    print(f"crash drill: {'all targets met' if passed else 'TARGET MISSED'}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
