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
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from sqlmodel import col, select

from bench.common import bench_directory
from bench.crash_outcome import Outcome, compare, describe, rows
from bench.crash_world import COMMUNITIES, World, killer, plan, resident, watcher
from bench.drills_common import (
    WebhookTelegram,
    all_passed,
    machine_note,
    quiet_disconnects,
    received,
    table,
)
from db.engine import Database, open_database
from db.models import WAITING, Case, OutboxMessage
from sandbox.child import Process, run_env
from sandbox.harness import (
    add_people,
    example_directory,
    run_settings,
    serve_emulators,
    sqlite_url,
    until,
)
from sandbox.telegram import Limits as TelegramLimits
from sandbox.twilio import TwilioEmulator

CHAT_INTERVAL = 0.1  # quick pacing per chat, as the end-to-end tests use (the drill is not pacing)
MARKER = re.compile(r"drill-[ts]\d{4}")
DRAIN_SECONDS = 150.0


# ---- the drill ----------------------------------------------------------------------------------


async def _outbox(db: Database) -> list[OutboxMessage]:
    async with db.reading() as session:
        return list(
            (await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all()
        )


async def _drain(db: Database, world: World, seconds: float) -> float:
    """Wait until no outbox row waits any more, twice in a row; the seconds it took."""
    started = time.monotonic()
    settled_at = -1  # rows counted when last seen settled
    while time.monotonic() - started < seconds:
        rows = await _outbox(db)
        settled = bool(rows) and all(r.status not in WAITING for r in rows)
        # Twice, with no row added between: a message written just after one look (the last
        # update handled late on a loaded machine) is waited for too.
        if settled and len(rows) == settled_at:
            break
        settled_at = len(rows) if settled else -1
        world.process.watch()
        await asyncio.sleep(0.5)
    return time.monotonic() - started


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
    directory = example_directory()
    numbers = [c.sms_number for c in sorted(directory.communities, key=lambda c: c.id)]
    if None in numbers or len(numbers) != COMMUNITIES:
        raise RuntimeError("the drill needs the example directory's six community numbers")
    telegram = WebhookTelegram(limits=TelegramLimits(private_interval=CHAT_INTERVAL))
    add_people(telegram, directory)
    for report in planned:
        if report.channel == "telegram":
            telegram.add_user(report.user, f"居民{report.index}", "zh")
    twilio = TwilioEmulator()
    database = sqlite_url(folder / "wolaiban.db")
    log = folder / "run.log"
    started_all = time.monotonic()
    async with serve_emulators(telegram, twilio) as emulators:
        settings = run_settings(
            database,
            emulators,
            webhook=True,
            telegram_chat_interval=CHAT_INTERVAL,
            sms_per_second=10,
            # quiet hours off: the drill's SMS and Telegram messages go out at any time of day;
            # the follow offer off: each resident's report is a case of its own, as counted
            directory_file=str(bench_directory(folder, quiet_hours=None)),
            sweep_seconds=1,
            log_level="INFO",
        )
        process = Process(run_env(settings), log, cwd=folder)
        world = World(telegram, twilio, process, settings.public_url, [str(n) for n in numbers])
        process.start()
        db = open_database(database)
        watching = asyncio.create_task(watcher(world))
        try:
            try:
                await until(lambda: telegram.webhook is not None, 60.0, step=0.1)
            except TimeoutError:
                raise RuntimeError(f"wolaiban run never set its webhook; see {log}") from None
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
    got = received(telegram, twilio)
    found = Counter(m for case in cases for m in MARKER.findall(case.description))
    markers = [r.marker for r in planned]
    lost, lost_examples, extra, extra_examples = compare(rows, got)
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
