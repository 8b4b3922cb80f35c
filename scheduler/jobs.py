"""APScheduler in the ``run`` process: the sweep of due cases every few seconds (and, on SQLite,
the lease that keeps a second process from sweeping too), the daily digest, and the purge of
sign-in links, sessions and invites that have ended. No business rule lives here."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, tzinfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot import processes
from bot.services.cases.routing import digest_time
from bot.services.cases.timers import hold_lease, run_due
from bot.services.digest.daily import send_digest, staff_members
from bot.services.staff.signin import purge
from bot.services.talk.invites import purge_invites
from bot.services.unit.context import ServiceContext

log = logging.getLogger("wolaiban.scheduler")
# How often what has ended is deleted: nothing can use it any more, so this only bounds how long
# a dead token's hash lingers.
PURGE_EVERY = timedelta(minutes=15)


class Clockwork:
    """The scheduler and its jobs."""

    def __init__(
        self,
        ctx: ServiceContext,
        *,
        tz: tzinfo,
        sweep_seconds: float,
        on_work: Callable[[], None],
        language: str = "zh",
        digests: bool = True,
    ) -> None:
        self._ctx, self._on_work, self._seconds = ctx, on_work, sweep_seconds
        self._holder = processes.holder_id()
        self._told_held = False
        # coalesce: runs missed while down collapse into one; no grace limit: never skipped.
        self.scheduler = AsyncIOScheduler(
            timezone=tz,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        # The first sweep runs at once: steps that fell due while we were down go first.
        self.scheduler.add_job(
            self.sweep,
            "interval",
            seconds=sweep_seconds,
            id="sweep",
            next_run_time=datetime.now(tz),
        )
        # The first purge a minute after start: what ended while we were down goes early.
        self.scheduler.add_job(
            self.purge,
            "interval",
            seconds=PURGE_EVERY.total_seconds(),
            id="purge",
            next_run_time=datetime.now(tz) + timedelta(minutes=1),
        )
        self._language = language
        self._tz = tz
        self._digests = digests
        self._quiet = asyncio.Event()  # set while no job is running
        self._quiet.set()
        self._running = 0  # jobs may overlap (a purge during a sweep): quiet when none runs

    async def start(self) -> None:
        """Start the jobs: the sweep, and the digest at the directory's ``digest_at`` (sent at
        once when that time has passed today and it has not gone out yet)."""
        self.scheduler.start()
        if not self._digests:
            return
        hour, minute = await digest_time(self._ctx)
        self.scheduler.add_job(
            self.digests, "cron", hour=hour, minute=minute, id="digest", replace_existing=True
        )
        now = datetime.now(self._tz)
        if (now.hour, now.minute) >= (hour, minute):
            self.scheduler.add_job(self.digests, id="digest-catch-up")

    async def digests(self) -> None:
        """Today's digest for every staff member (each once a day, whichever instance sends)."""
        async with self._busy():
            await self._send_digests()

    async def _send_digests(self) -> None:
        sent = 0
        for person_id in await staff_members(self._ctx):
            sent += await send_digest(self._ctx, person_id=person_id) is not None
        if sent:
            log.info("digests queued: %d", sent)
            self._on_work()

    async def purge(self) -> None:
        """Delete the sign-in links, console sessions and invites that can no longer be used."""
        async with self._busy():
            ended = await purge(self._ctx)
            invites = await purge_invites(self._ctx)
        if ended.links or ended.sessions or invites:
            log.info(
                "purged: %d sign-in links, %d sessions, %d invites",
                ended.links,
                ended.sessions,
                invites,
            )

    @asynccontextmanager
    async def _busy(self) -> AsyncIterator[None]:
        """While a job runs: ``stop`` waits until the last running job is done."""
        self._running += 1
        self._quiet.clear()
        try:
            yield
        finally:
            self._running -= 1
            if not self._running:
                self._quiet.set()

    async def stop(self) -> None:
        """Stop the jobs, letting one that runs finish its transaction."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        await self._quiet.wait()

    async def sweep(self) -> None:
        """Step every due case (on SQLite only while this process holds the lease)."""
        async with self._busy():
            await self._sweep()

    async def _sweep(self) -> None:
        if self._ctx.db.is_sqlite:
            lease = self._seconds * 3 + 10
            if not await hold_lease(
                self._ctx,
                name="scheduler",
                holder=self._holder,
                seconds=lease,
                gone=processes.is_gone,
            ):
                if not self._told_held:
                    log.warning("the scheduler runs in another process; this one only serves")
                    self._told_held = True
                return
            self._told_held = False
        done = await run_due(self._ctx)
        if done:
            log.info("clock: %s", {step.value: n for step, n in done.items()})
            self._on_work()
