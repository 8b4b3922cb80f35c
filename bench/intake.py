"""Intake: how many reports per second ``wolaiban run`` takes in by webhook, how fast it answers.

A load generator (aiohttp, keep-alive, one connection per worker) posts signed Twilio inbound SMS
and Telegram webhook updates over loopback to a real ``wolaiban run`` (a subprocess, SQLite by
default or ``--postgres URL``) at rising concurrency (closed loop: each worker posts, waits for
the answer, posts again), then at fixed rates of reports per second (open loop, latency counted
from the scheduled moment). The baseline, measured in the same run with the same generator and
the same payloads, are two servers of their own (uvicorn, each its own process): a bare Starlette
endpoint answering 200, and the durable baseline (``bench/intake_durable.py``: the Twilio
signature checked, one ``INSERT … ON CONFLICT DO NOTHING`` committed per request on SQLite WAL
with synchronous=NORMAL, TwiML naming the row's id) — the least a correct intake does.

What a timed request is (``--telegram``):
  confirm       (default) every timed request commits one report: half are SMS reports (one
                text to a community's number from a phone never seen before), half are the
                Telegram press that submits a guided report — its earlier steps (/report, kind,
                community, place, description, no photos) are played through the same webhook
                beforehand, untimed;
  conversation  the Telegram half is the whole guided report, its seven updates all timed;
  text          the Telegram half is a text from a new user (answered "not understood"): load,
                not reports;
  none          no Telegram half: every timed request is an SMS report.
A report counts once its case is in the database (counted there after each run).

    python bench/intake.py [--quick] [--levels 10,50,100,200] [--requests 1000]
                           [--paced 200,25] [--paced-seconds 5] [--telegram confirm|none]
                           [--postgres postgresql+asyncpg://postgres@127.0.0.1:5432/test]

Exits 1 when a target is missed: ≥ 500 reports/s on SQLite; p99 answer ≤ 100 ms at 200 reports/s
(with no errors); peak requests/s ≥ 25% of the durable baseline's; no errors at any level; every
SMS answer names the case (``#n``) its text opened, committed.

The run's directory has the follow offer off (``bench/common.py``, ``NO_FOLLOW``): its reports are
many different problems, each a case of its own (``bench/suggest.py`` measures the offer).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import sys
import tempfile
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs

if __package__ in (None, ""):  # run as ``python bench/intake.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
from sqlalchemy import func, select

from bench.common import (
    Figure,
    bare_server,
    bench_directory,
    bench_env,
    cli,
    emulators,
    fresh_postgres,
    machine_note,
    print_table,
    rss_mb,
    wolaiban_run,
)
from bench.intake_durable import DURABLE_TOKEN, durable_server
from bench.intake_load import Sample, client_for, closed_loop, open_loop
from bench.intake_payloads import Payloads, Post, TelegramMode
from bench.intake_payloads import plan as mixed_plan
from db.engine import Database, open_database
from db.models import Case
from sandbox.child import Process
from sandbox.harness import sqlite_url
from sandbox.serve import free_port

TARGET_REPORTS, TARGET_P99_MS, TARGET_SHARE, PACED_RATE = 500.0, 100.0, 0.25, 200.0
ANSWER_CHECKS = 20  # SMS reports posted one by one after the load, their answers read
NUMBER = re.compile(r"#(\d+)")


def plan(
    payloads: Payloads, count: int, mode: str, *, jobs_not_requests: bool = False
) -> tuple[list[list[Post]], list[list[Post]]]:
    """The timed jobs and untimed setup: SMS only (``none``), else half SMS, half Telegram."""
    if mode == "none":
        return [[payloads.sms_report()] for _ in range(count)], []
    telegram: TelegramMode = (
        "text" if mode == "text" else ("conversation" if mode == "conversation" else "confirm")
    )
    return mixed_plan(payloads, count, telegram, jobs_not_requests=jobs_not_requests)


async def count_cases(db: Database | None) -> int:
    if db is None:
        return 0
    async with db.reading() as session:
        return int(await session.scalar(select(func.count()).select_from(Case)) or 0)


@dataclass
class Target:
    """Where the generator posts: the real process (with its database) or the bare endpoint."""

    name: str
    child: Process
    db: Database | None = None
    others: tuple[Process, ...] = ()  # more ``run`` instances on the same database

    @property
    def bases(self) -> list[str]:
        """Where requests go: each instance takes its share of the jobs."""
        return [self.child.url, *(o.url for o in self.others)]


def _shares(jobs: list[list[Post]], parts: int) -> list[list[list[Post]]]:
    return [jobs[i::parts] for i in range(parts)]


def _merged(samples: list[Sample]) -> Sample:
    merged = Sample(seconds=max(s.seconds for s in samples))
    for one in samples:
        merged.latencies += one.latencies
        merged.statuses.update(one.statuses)
        merged.planned_reports += one.planned_reports
        merged.answered_reports += one.answered_reports
    return merged


async def closed_everywhere(
    client: aiohttp.ClientSession,
    bases: list[str],
    jobs: list[list[Post]],
    concurrency: int,
    *,
    retries: int = 0,
) -> Sample:
    """The closed loop with its jobs and workers shared out over the instances."""
    parts = len(bases)
    runs = [
        closed_loop(client, base, share, max(concurrency // parts, 1), retries=retries)
        for base, share in zip(bases, _shares(jobs, parts), strict=True)
    ]
    return _merged(list(await asyncio.gather(*runs)))


async def open_everywhere(
    client: aiohttp.ClientSession, bases: list[str], jobs: list[list[Post]], rate: float
) -> Sample:
    """The open loop at ``rate`` in all, shared out over the instances."""
    parts = len(bases)
    runs = [
        open_loop(client, base, share, rate / parts)
        for base, share in zip(bases, _shares(jobs, parts), strict=True)
    ]
    return _merged(list(await asyncio.gather(*runs)))


@dataclass
class Results:
    """One target's figures: by concurrency level, and by paced rate (reports/s)."""

    levels: dict[int, Sample] = field(default_factory=dict)
    paced: dict[float, Sample] = field(default_factory=dict)
    rss_start: float = 0.0  # MB, before the first request
    rss_end: float = 0.0  # MB, after the last
    answers_named: tuple[int, int] = (0, 0)  # SMS answers checked, of them naming their case


async def answers_named(base: str, payloads: Payloads, db: Database) -> tuple[int, int]:
    """Post SMS reports one by one; how many answers name the committed case of their own text
    (not any ``#n``: an answer offering another's case to follow names one too)."""
    good = 0
    async with aiohttp.ClientSession() as client:
        for _ in range(ANSWER_CHECKS):
            post = payloads.sms_report()
            sent = parse_qs(post.body.decode())["Body"][0]
            async with client.post(base + post.path, data=post.body, headers=post.headers) as r:
                body = await r.text()
            found = NUMBER.search(body)
            if r.status == 200 and found:
                async with db.reading() as session:
                    case = await session.get(Case, int(found.group(1)))
                good += case is not None and case.description == sent
    return ANSWER_CHECKS, good


def show(target: Target, label: str, sample: Sample) -> None:
    print(
        f"  {target.name:>8} {label:<14} {sample.rps:8.1f} req/s {sample.reports_per_second:8.1f}"
        f" reports/s  p50 {sample.ms(50):8.1f} ms  p99 {sample.ms(99):8.1f} ms"
        f"  errors {sample.errors}"
        + (f" (answers: {dict(sample.statuses)})" if sample.errors else ""),
        flush=True,
    )


async def measure(target: Target, payloads: Payloads, args: argparse.Namespace) -> Results:
    """Every concurrency level, then the paced runs, against ``target``."""
    results = Results(rss_start=rss_mb(target.child.pid))
    bases = target.bases
    async with client_for(20) as client:  # warm up: imports, caches, the first connections
        jobs, setup = plan(payloads, 40, args.telegram)
        await closed_everywhere(client, bases, setup, 10)
        await closed_everywhere(client, bases, jobs, 10)
    for level in args.levels:
        jobs, setup = plan(payloads, args.requests, args.telegram)
        async with client_for(max(level, 50)) as client:
            await play_setup(client, bases, setup)
            before = await count_cases(target.db)
            sample = await closed_everywhere(client, bases, jobs, level)
        if target.db is not None:
            sample.reports = await count_cases(target.db) - before
        results.levels[level] = sample
        show(target, f"c={level}", sample)
    for rate in args.paced:
        sample = await paced_run(target, payloads, args, rate)
        results.paced[rate] = sample
        show(target, f"{rate:g} reports/s", sample)
    results.rss_end = rss_mb(target.child.pid)
    return results


async def play_setup(
    client: aiohttp.ClientSession, bases: list[str], setup: list[list[Post]]
) -> None:
    """The untimed first steps of the guided reports whose last press is timed (a step that
    failed is delivered again, as Telegram does after a 500)."""
    if setup:
        done = await closed_everywhere(client, bases, setup, 50, retries=5)
        if done.errors:
            raise RuntimeError(f"the guided reports' first steps failed: {dict(done.statuses)}")


async def paced_run(
    target: Target, payloads: Payloads, args: argparse.Namespace, reports_per_second: float
) -> Sample:
    """Reports at a fixed rate: jobs start at the rate that carries that many."""
    rate = reports_per_second * (2 if args.telegram == "text" else 1)
    count = max(int(rate * args.paced_seconds), 1)
    jobs, setup = plan(payloads, count, args.telegram, jobs_not_requests=True)
    async with client_for(1000) as client:
        await play_setup(client, target.bases, setup)
        before = await count_cases(target.db)
        sample = await open_everywhere(client, target.bases, jobs, rate)
    if target.db is not None:
        sample.reports = await count_cases(target.db) - before
    return sample


async def main(args: argparse.Namespace) -> int:
    print(machine_note())
    backend = "PostgreSQL" if args.postgres else "SQLite"
    print(
        f"intake on {backend}: concurrency {args.levels}, {args.requests} timed requests each; "
        f"then paced at {', '.join(f'{r:g}' for r in args.paced)} reports/s for "
        f"{args.paced_seconds:g} s each; Telegram requests: {args.telegram}",
        flush=True,
    )
    workdir = args.workdir
    async with bare_server(workdir) as bare:
        print(f"baseline: a bare Starlette endpoint answering 200 (pid {bare.pid})", flush=True)
        baseline = await measure(Target("bare", bare), Payloads(bare.url, "x" * 32, None), args)
    async with durable_server(workdir) as durable_child:
        print(
            f"baseline: durable (signature + one committed row, pid {durable_child.pid})",
            flush=True,
        )
        durable_payloads = Payloads(durable_child.url, DURABLE_TOKEN, None)
        durable = await measure(Target("durable", durable_child), durable_payloads, args)
    if args.postgres:
        async with fresh_postgres(args.postgres) as url:
            cli(["db", "upgrade"], bench_env(url), workdir)
            real = await against_wolaiban(url, workdir, args)
    else:
        real = await against_wolaiban(sqlite_url(workdir / "wolaiban.db"), workdir, args)
    code = report(args, backend, real, baseline, durable)
    if args.keep:
        print(f"database and logs kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return code


async def against_wolaiban(url: str, workdir: Path, args: argparse.Namespace) -> Results:
    async with emulators() as emu, AsyncExitStack() as stack:
        # Every report a case of its own, on SMS by the hot path (common.NO_FOLLOW says why).
        env = bench_env(url, emu, port=free_port(), directory=bench_directory(workdir))
        child = await stack.enter_async_context(wolaiban_run(env, workdir))
        others = []
        for n in range(1, args.instances):
            # Another instance on the same database: its own port, the same public URL (the
            # signatures name that), the same emulators.
            other_env = {**env, "HTTP_PORT": str(free_port())}
            run = wolaiban_run(other_env, workdir, name=f"run{n + 1}")
            others.append(await stack.enter_async_context(run))
        print(
            f"wolaiban run (pids {', '.join(str(c.pid) for c in [child, *others])})"
            f" on {url.split(':')[0]}",
            flush=True,
        )
        db = open_database(url)
        try:
            assert emu.twilio is not None
            payloads = Payloads(env["PUBLIC_URL"], emu.twilio.auth_token, emu)
            target = Target("wolaiban", child, db, tuple(others))
            results = await measure(target, payloads, args)
            results.answers_named = await answers_named(child.url, payloads, db)
            return results
        finally:
            await db.dispose()


def report(
    args: argparse.Namespace, backend: str, real: Results, bare: Results, durable: Results
) -> int:
    per_level: list[Figure] = []
    for level, sample in real.levels.items():
        base = bare.levels[level]
        per_level += [
            Figure(f"c={level} requests/s", sample.rps, "/s", base.rps),
            Figure(f"c={level} requests/s vs durable", sample.rps, "/s", durable.levels[level].rps),
            Figure(
                f"c={level} answer p99 vs durable",
                sample.ms(99),
                "ms",
                durable.levels[level].ms(99),
            ),
            Figure(
                f"c={level} reports/s", sample.reports_per_second, "/s", base.reports_per_second
            ),
            Figure(f"c={level} answer p50", sample.ms(50), "ms", base.ms(50)),
            Figure(f"c={level} answer p99", sample.ms(99), "ms", base.ms(99)),
            Figure(f"c={level} errors", sample.errors, "", base.errors, "0", sample.errors == 0, 0),
        ]
        lost = sample.answered_reports - (sample.reports or 0)
        if lost > 0:  # answered 200, yet no case: should never happen
            per_level.append(Figure(f"c={level} reports lost", lost, "", 0, "0", False, 0))
    for rate, sample in real.paced.items():
        base = bare.paced[rate]
        label = f"paced {rate:g} reports/s"
        per_level += [
            Figure(f"{label}: reports/s", sample.reports_per_second, "/s", base.reports_per_second),
            Figure(f"{label}: answer p50", sample.ms(50), "ms", base.ms(50)),
            Figure(f"{label}: answer p99", sample.ms(99), "ms", base.ms(99)),
            Figure(f"{label}: errors", sample.errors, "", base.errors, digits=0),
        ]
    per_level += [
        Figure("server RSS before the first request", real.rss_start, "MB", bare.rss_start),
        Figure("server RSS after the last", real.rss_end, "MB", bare.rss_end),
    ]
    print_table(
        f"Intake on {backend} (baselines: bare endpoint; 'vs durable' lines: the durable one)",
        per_level,
    )

    best_level, best = max(real.levels.items(), key=lambda item: item[1].reports_per_second)
    top = max(s.rps for s in real.levels.values())
    top_durable = max(s.rps for s in durable.levels.values())
    share = top / top_durable if top_durable else 0.0
    # The reports/s target is SQLite's, and counts reports: not chatter (--telegram text).
    counted = args.telegram != "text"
    targets = [
        Figure(
            f"peak reports/s (c={best_level})",
            best.reports_per_second,
            "/s",
            max(s.reports_per_second for s in bare.levels.values()),
            f"≥ {TARGET_REPORTS:.0f}" + ("" if counted else " (reports only)"),
            best.reports_per_second >= TARGET_REPORTS if counted else None,
        ),
        Figure(
            "peak requests/s vs durable baseline",
            top,
            "/s",
            top_durable,
            f"≥ {TARGET_SHARE:.0%} of durable",
            share >= TARGET_SHARE,
        ),
        Figure(
            "SMS answers naming their committed case #n",
            real.answers_named[1],
            "",
            real.answers_named[0],
            f"all {real.answers_named[0]}",
            real.answers_named[0] > 0 and real.answers_named[1] == real.answers_named[0],
            0,
        ),
    ]
    if PACED_RATE in real.paced:
        paced, base = real.paced[PACED_RATE], bare.paced[PACED_RATE]
        targets.append(
            Figure(
                f"p99 answer at {PACED_RATE:g} reports/s",
                paced.ms(99),
                "ms",
                base.ms(99),
                f"≤ {TARGET_P99_MS:g} ms, no errors",
                paced.ms(99) <= TARGET_P99_MS and paced.errors == 0,
            )
        )
    misses = print_table(f"Intake targets on {backend}", targets)
    misses += [f for f in per_level if f.passed is False]
    print(f"\n{machine_note()}")
    print("(other work on this machine moves these figures; the ratios to the baseline less so)")
    if misses:
        print(f"{len(misses)} target(s) missed")
        return 1
    print("all targets met")
    return 0


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--levels", help="concurrency levels (default 10,50,100,200)")
    parser.add_argument("--requests", type=int, help="timed requests per level (default 1000)")
    parser.add_argument(
        "--paced", help=f"fixed rates in reports/s (default {PACED_RATE:g},25; the target's first)"
    )
    parser.add_argument("--paced-seconds", type=float, help="length of each paced run (5)")
    parser.add_argument(
        "--telegram", choices=("confirm", "conversation", "text", "none"), default="confirm"
    )
    parser.add_argument("--postgres", metavar="URL", help="bench on PostgreSQL (a fresh database)")
    parser.add_argument(
        "--instances", type=int, default=1, help="run instances on the database (PostgreSQL)"
    )
    parser.add_argument("--quick", action="store_true", help="a smoke test: little load")
    parser.add_argument("--keep", metavar="DIR", help="keep the database and logs in DIR")
    args = parser.parse_args(argv)
    levels = args.levels or ("10,50" if args.quick else "10,50,100,200")
    args.levels = [int(x) for x in levels.split(",")]
    args.requests = args.requests or (200 if args.quick else 1000)
    paced = args.paced or (f"{PACED_RATE:g}" if args.quick else f"{PACED_RATE:g},25")
    args.paced = [float(x) for x in paced.split(",")]
    args.paced_seconds = args.paced_seconds or (3.0 if args.quick else 5.0)
    args.workdir = Path(args.keep or tempfile.mkdtemp(prefix="wolaiban-bench-"))
    args.workdir.mkdir(parents=True, exist_ok=True)
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
