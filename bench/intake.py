"""Intake: how many reports per second ``wolaiban run`` takes in by webhook, how fast it answers.

A load generator (aiohttp, keep-alive, one connection per worker) posts signed Twilio inbound SMS
and Telegram webhook updates over loopback to a real ``wolaiban run`` (a subprocess, SQLite by
default or ``--postgres URL``) at rising concurrency (closed loop: each worker posts, waits for
the answer, posts again), then at fixed rates of reports per second (open loop, latency counted
from the scheduled moment). The baseline, measured in the same run with the same generator and
the same payloads, is a bare Starlette endpoint answering 200 (uvicorn, its own process).

What a timed request is (``--telegram``):
  confirm       (default) every timed request commits one report: half are SMS reports (one
                text to a community's number from a phone never seen before), half are the
                Telegram press that submits a guided report — its earlier steps (/report, kind,
                community, place, description, no photos) are played through the same webhook
                beforehand, untimed;
  conversation  the Telegram half is the whole guided report, its seven updates all timed;
  text          the Telegram half is a text from a new user (answered "not understood"): load,
                not reports.
A report counts once its case is in the database (counted there after each run).

    python bench/intake.py [--quick] [--levels 10,50,100,200] [--requests 1000]
                           [--paced 200,25] [--paced-seconds 5] [--telegram confirm]
                           [--postgres postgresql+asyncpg://postgres@127.0.0.1:5432/test]

Exits 1 when a target is missed: ≥ 500 reports/s on SQLite; p99 answer ≤ 100 ms at 200 reports/s
(with no errors); peak requests/s ≥ 25% of the bare endpoint's; no errors at any level.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode

if __package__ in (None, ""):  # run as ``python bench/intake.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from bench.common import (
    WEBHOOK_SECRET,
    Child,
    Emulators,
    Figure,
    bare_server,
    cli,
    emulators,
    fresh_postgres,
    machine_note,
    percentile,
    print_table,
    rss_mb,
    run_env,
    sqlite_url,
    wolaiban_run,
)
from db.engine import Database, open_database
from db.models import Case
from sandbox.serve import free_port
from sandbox.twilio import inbound_params

TelegramMode = Literal["confirm", "conversation", "text"]
SMS_PATH, TELEGRAM_PATH = "/twilio/sms", "/telegram/webhook"
# The community numbers of examples/changyang.yaml: a text to one of them is a report there.
COMMUNITY_NUMBERS = tuple(f"+861069000000{i}" for i in range(1, 7))
COMMUNITIES = 6  # the guided report lists them by id; any index 0-5 is a community
CATEGORIES = 10
TEXTS = (
    "菜鸟驿站门口的快递堆在马路上，老人孩子出行不方便",
    "楼后面的建筑垃圾堆了一周没人清理",
    "5号楼和6号楼之间的长椅坏了",
    "垃圾桶满了，有异味",
    "楼下晚上一直很吵，噪音扰民",
    "消防通道被乱停的车堵住了",
    "地下室水管漏水",
    "电梯门关不上",
    "井盖松动，很危险",
    "小区门口路灯不亮",
)
TARGET_REPORTS, TARGET_P99_MS, TARGET_SHARE, PACED_RATE = 500.0, 100.0, 0.25, 200.0


@dataclass(frozen=True, slots=True)
class Post:
    """One webhook request, built (and signed) before the clock starts."""

    path: str
    headers: dict[str, str]
    body: bytes
    report: bool  # committing it opens a case


@dataclass
class Sample:
    """What one run of the generator saw."""

    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    planned_reports: int = 0
    answered_reports: int = 0  # report-carrying requests answered 200
    reports: int | None = None  # cases committed, counted in the database

    @property
    def requests(self) -> int:
        return len(self.latencies)

    @property
    def errors(self) -> int:
        return sum(n for code, n in self.statuses.items() if code != 200)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def reports_per_second(self) -> float:
        reports = self.planned_reports if self.reports is None else self.reports
        return reports / self.seconds if self.seconds else 0.0

    def ms(self, p: float) -> float:
        return percentile(self.latencies, p) * 1000


class Payloads:
    """Builds the requests: unique MessageSids, phones, Telegram users and update ids."""

    def __init__(self, public_url: str, auth_token: str, emulators: Emulators | None) -> None:
        self._public = public_url.rstrip("/")
        self._validator = RequestValidator(auth_token)
        self._emulators = emulators
        self._n = itertools.count(1)
        self._update = itertools.count(1)
        self._user = itertools.count(50_000_001)

    def sms_report(self) -> Post:
        """A text from a phone never seen before to a community's own number: one report."""
        n = next(self._n)
        sid = f"SM{n:032x}"
        sender = f"+86137{n:08d}"
        to = COMMUNITY_NUMBERS[n % len(COMMUNITY_NUMBERS)]
        body = f"{TEXTS[n % len(TEXTS)]}（{n}）"
        params = inbound_params(sid, sender, to, body, account_sid="AC" + "0123456789abcdef" * 2)
        signature = self._validator.compute_signature(f"{self._public}{SMS_PATH}", params)
        headers = {
            "X-Twilio-Signature": str(signature),
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "TwilioProxy/1.1",
        }
        return Post(SMS_PATH, headers, urlencode(params).encode(), report=True)

    def new_user(self) -> dict[str, Any]:
        """A Telegram user the bot has never met (and the emulator can deliver to)."""
        user_id = next(self._user)
        if self._emulators is not None:
            return self._emulators.telegram.add_user(user_id, f"居民{user_id}", "zh")
        return {
            "id": user_id,
            "is_bot": False,
            "first_name": f"居民{user_id}",
            "language_code": "zh",
        }

    def _update_post(self, body: dict[str, Any], *, report: bool = False) -> Post:
        update = {"update_id": next(self._update), **body}
        headers = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
        headers["Content-Type"] = "application/json"
        return Post(TELEGRAM_PATH, headers, json.dumps(update).encode(), report=report)

    def says(self, user: dict[str, Any], text: str) -> Post:
        """``user`` writes ``text`` (a command when it starts with /)."""
        n = next(self._n)
        message: dict[str, Any] = {
            "message_id": n,
            "date": int(time.time()),
            "chat": {"id": user["id"], "type": "private", "first_name": user["first_name"]},
            "from": user,
            "text": text,
        }
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text)}]
        return self._update_post({"message": message})

    def presses(self, user: dict[str, Any], data: str, *, report: bool = False) -> Post:
        """``user`` presses the button whose callback data is ``data``."""
        query = {
            "id": str(next(self._n)),
            "from": user,
            "chat_instance": str(user["id"]),
            "data": data,
        }
        return self._update_post({"callback_query": query}, report=report)

    def guided_report(self) -> list[Post]:
        """A new user's whole guided report; the last press submits it."""
        n = next(self._n)
        user = self.new_user()
        return [
            self.says(user, "/report"),
            self.presses(user, f"r:category:{n % CATEGORIES}"),
            self.presses(user, f"r:community:{n % COMMUNITIES}"),
            self.says(user, f"{n % 200 + 1}号楼一层"),
            self.says(user, f"{TEXTS[n % len(TEXTS)]}（{n}）"),
            self.presses(user, "r:photos:skip"),
            self.presses(user, "r:confirm:ok", report=True),
        ]

    def chatter(self) -> Post:
        """A text from a new user, outside any conversation."""
        return self.says(self.new_user(), "你好，请问怎么反映问题？")


def plan(
    payloads: Payloads, count: int, mode: TelegramMode, *, jobs_not_requests: bool = False
) -> tuple[list[list[Post]], list[list[Post]]]:
    """``count`` timed requests (or jobs), alternately SMS and Telegram: the jobs (each a sequence
    one worker posts in order), and the untimed setup jobs to play first (``confirm`` mode)."""
    jobs: list[list[Post]] = []
    setup: list[list[Post]] = []
    requests = 0
    for i in itertools.count():
        if (len(jobs) if jobs_not_requests else requests) >= count:
            break
        if i % 2 == 0:
            jobs.append([payloads.sms_report()])
        elif mode == "text":
            jobs.append([payloads.chatter()])
        else:
            steps = payloads.guided_report()
            if mode == "confirm":
                setup.append(steps[:-1])
                steps = steps[-1:]
            jobs.append(steps)
        requests += len(jobs[-1])
    return jobs, setup


async def closed_loop(
    client: aiohttp.ClientSession,
    base: str,
    jobs: list[list[Post]],
    concurrency: int,
    *,
    retries: int = 0,
) -> Sample:
    """``concurrency`` workers, each posting one job's requests in order, then the next job;
    with ``retries``, an answer other than 200 is posted again, as Telegram and Twilio do."""
    sample = Sample(planned_reports=sum(p.report for job in jobs for p in job))
    queue = iter(jobs)

    async def worker() -> None:
        for job in queue:
            for post in job:
                started = time.perf_counter()
                status = await post_one(client, base + post.path, post)
                for _ in range(retries):
                    if status == 200:
                        break
                    await asyncio.sleep(1.0)
                    status = await post_one(client, base + post.path, post)
                sample.latencies.append(time.perf_counter() - started)
                sample.statuses[status] += 1
                sample.answered_reports += post.report and status == 200

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    sample.seconds = time.perf_counter() - started
    return sample


async def open_loop(
    client: aiohttp.ClientSession, base: str, jobs: list[list[Post]], rate: float
) -> Sample:
    """Start a job at a fixed ``rate`` whatever the answers (a job's later requests follow its
    earlier ones' answers, as a person's do). Latency counts from the scheduled moment, so a late
    start is the server's delay too (no coordinated omission)."""
    sample = Sample(planned_reports=sum(p.report for job in jobs for p in job))

    async def one(job: list[Post], due: float) -> None:
        for post in job:
            status = await post_one(client, base + post.path, post)
            now = time.perf_counter()
            sample.latencies.append(now - due)
            sample.statuses[status] += 1
            sample.answered_reports += post.report and status == 200
            due = now

    tasks = []
    started = time.perf_counter()
    for i, job in enumerate(jobs):
        due = started + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(job, due)))
    await asyncio.gather(*tasks)
    sample.seconds = time.perf_counter() - started
    return sample


def client_for(concurrency: int) -> aiohttp.ClientSession:
    """Keep-alive connections, as many as there are workers.

    Not httpx: its connection pool is the bottleneck past a few connections (against the bare
    endpoint on this machine: 785 requests/s with 10 connections, 180 with 50 or 200, where
    aiohttp does 3,900-6,800), so it would measure itself rather than the server.
    """
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60))


async def post_one(client: aiohttp.ClientSession, url: str, post: Post) -> int:
    """Post and read the whole answer; its status (0 when the connection failed).

    A keep-alive connection the server closed just as it was reused is posted again once (any
    HTTP client does so); the time it took still counts."""
    for attempt in range(2):
        try:
            async with client.post(url, data=post.body, headers=post.headers) as response:
                await response.read()
                return response.status
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
            if attempt:
                return 0
        except (aiohttp.ClientError, TimeoutError):
            return 0
    return 0


async def count_cases(db: Database | None) -> int:
    if db is None:
        return 0
    async with db.reading() as session:
        return int(await session.scalar(select(func.count()).select_from(Case)) or 0)


@dataclass
class Target:
    """Where the generator posts: the real process (with its database) or the bare endpoint."""

    name: str
    child: Child
    db: Database | None = None


@dataclass
class Results:
    """One target's figures: by concurrency level, and by paced rate (reports/s)."""

    levels: dict[int, Sample] = field(default_factory=dict)
    paced: dict[float, Sample] = field(default_factory=dict)
    rss_start: float = 0.0  # MB, before the first request
    rss_end: float = 0.0  # MB, after the last


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
    base = target.child.url
    async with client_for(20) as client:  # warm up: imports, caches, the first connections
        jobs, setup = plan(payloads, 40, args.telegram)
        await closed_loop(client, base, setup, 10)
        await closed_loop(client, base, jobs, 10)
    for level in args.levels:
        jobs, setup = plan(payloads, args.requests, args.telegram)
        async with client_for(max(level, 50)) as client:
            await play_setup(client, base, setup)
            before = await count_cases(target.db)
            sample = await closed_loop(client, base, jobs, level)
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


async def play_setup(client: aiohttp.ClientSession, base: str, setup: list[list[Post]]) -> None:
    """The untimed first steps of the guided reports whose last press is timed (a step that
    failed is delivered again, as Telegram does after a 500)."""
    if setup:
        done = await closed_loop(client, base, setup, 50, retries=5)
        if done.errors:
            raise RuntimeError(f"the guided reports' first steps failed: {dict(done.statuses)}")


async def paced_run(
    target: Target, payloads: Payloads, args: argparse.Namespace, reports_per_second: float
) -> Sample:
    """Reports at a fixed rate: jobs start at the rate that carries that many."""
    rate = reports_per_second * (2 if args.telegram == "text" else 1)
    count = max(int(rate * args.paced_seconds), 1)
    jobs, setup = plan(payloads, count, args.telegram, jobs_not_requests=True)
    base = target.child.url
    async with client_for(1000) as client:
        await play_setup(client, base, setup)
        before = await count_cases(target.db)
        sample = await open_loop(client, base, jobs, rate)
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
    if args.postgres:
        async with fresh_postgres(args.postgres) as url:
            cli(["db", "upgrade"], run_env(url, 0), workdir)
            real = await against_wolaiban(url, workdir, args)
    else:
        real = await against_wolaiban(sqlite_url(workdir / "wolaiban.db"), workdir, args)
    code = report(args, backend, real, baseline)
    if args.keep:
        print(f"database and logs kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return code


async def against_wolaiban(url: str, workdir: Path, args: argparse.Namespace) -> Results:
    async with emulators() as emu:
        port = free_port()
        env = run_env(url, port, **emu.env(port))
        async with wolaiban_run(env, workdir) as child:
            print(f"wolaiban run (pid {child.pid}) on {url.split(':')[0]}", flush=True)
            db = open_database(url)
            try:
                payloads = Payloads(env["PUBLIC_URL"], emu.twilio.auth_token, emu)
                return await measure(Target("wolaiban", child, db), payloads, args)
            finally:
                await db.dispose()


def report(args: argparse.Namespace, backend: str, real: Results, bare: Results) -> int:
    per_level: list[Figure] = []
    for level, sample in real.levels.items():
        base = bare.levels[level]
        per_level += [
            Figure(f"c={level} requests/s", sample.rps, "/s", base.rps),
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
        f"Intake on {backend} (baseline: a bare Starlette endpoint, same generator)", per_level
    )

    best_level, best = max(real.levels.items(), key=lambda item: item[1].reports_per_second)
    top = max(s.rps for s in real.levels.values())
    top_bare = max(s.rps for s in bare.levels.values())
    share = top / top_bare if top_bare else 0.0
    # The reports/s target is SQLite's, and counts reports: not chatter (--telegram text).
    counted = args.telegram != "text" and not args.postgres
    targets = [
        Figure(
            f"peak reports/s (c={best_level})",
            best.reports_per_second,
            "/s",
            max(s.reports_per_second for s in bare.levels.values()),
            f"≥ {TARGET_REPORTS:.0f}" + ("" if counted else " on SQLite"),
            best.reports_per_second >= TARGET_REPORTS if counted else None,
        ),
        Figure(
            "peak requests/s vs bare endpoint",
            top,
            "/s",
            top_bare,
            f"≥ {TARGET_SHARE:.0%} of bare",
            share >= TARGET_SHARE,
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
        "--telegram", choices=("confirm", "conversation", "text"), default="confirm"
    )
    parser.add_argument("--postgres", metavar="URL", help="bench on PostgreSQL (a fresh database)")
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
