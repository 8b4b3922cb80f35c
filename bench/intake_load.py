"""The intake benchmark's load generator: closed loop (workers posting in turn) and open loop (a
fixed rate whatever the answers), over keep-alive aiohttp connections."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

import aiohttp

from bench.common import percentile
from bench.intake_payloads import Post


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
