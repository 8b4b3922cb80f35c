"""APScheduler in the ``run`` process: the sweep of due cases every few seconds (and, on SQLite,
the lease that keeps a second process from sweeping too), the daily digest, the purge of
sign-in links, sessions and invites that have ended, and the daily data jobs (retention, and
backups when a folder is set), each run by one instance a day. No business rule lives here."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, tzinfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot import processes
from bot.config import Settings
from bot.services.cases.routing import digest_time
from bot.services.cases.timers import hold_lease, run_due
from bot.services.data.daily import day_done, take_day
from bot.services.data.retention import Retention, retain
from bot.services.digest.daily import send_digest, staff_members
from bot.services.staff.signin import purge
from bot.services.talk.invites import purge_invites
from bot.services.unit.context import ServiceContext, ServiceRefusal
from core.texts import render

log = logging.getLogger("wolaiban.scheduler")
# How often what has ended is deleted: nothing can use it any more, so this only bounds how long
# a dead token's hash lingers.
PURGE_EVERY = timedelta(minutes=15)
# The daily data jobs, in the scheduler's time zone (TIMEZONE), when a community sleeps: retention
# first, so the day's backup no longer holds what it dropped. Missed (the process was down): run a
# minute after start, still once that day.
RETENTION_AT, BACKUP_AT = time(3, 0), time(4, 0)
CATCH_UP_AFTER = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class DataJobs:
    """The daily data jobs as the settings say: retention, and a backup when a folder is set."""

    retention: Retention = field(default_factory=Retention)
    backup_dir: str | None = None
    backup_keep: int = 7

    @classmethod
    def of(cls, settings: Settings) -> DataJobs:
        """The jobs of these settings (RETAIN_*, ANONYMISE_REPORTERS_DAYS, BACKUP_*)."""
        retention = Retention(
            message_text_days=settings.retain_message_text_days,
            receipts_days=settings.retain_receipts_days,
            drafts_days=settings.retain_drafts_days,
            photos_days=settings.retain_photos_days,
            anonymise_reporters_days=settings.anonymise_reporters_days,
        )
        return cls(retention, settings.backup_dir or None, settings.backup_keep)


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
        data: DataJobs | None = None,
    ) -> None:
        """``data``: the daily retention and backup jobs (None: neither runs)."""
        self._ctx, self._on_work, self._seconds = ctx, on_work, sweep_seconds
        self._data = data
        self._retaining: set[asyncio.Task[object]] = set()
        self._stopping = False
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
        """Start the jobs: the sweep, the daily data jobs, and the digest at the directory's
        ``digest_at`` (sent at once when that time has passed today and it has not gone out)."""
        self.scheduler.start()
        if self._data is not None:
            self._daily("retention", self.retention, RETENTION_AT)
            if self._data.backup_dir:
                self._daily("backup", self.backup, BACKUP_AT)
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

    def _daily(self, name: str, job: Callable[[], Awaitable[None]], at: time) -> None:
        """``job`` every day at ``at``; and soon after start when ``at`` has passed today (the
        job itself skips a day already done)."""
        self.scheduler.add_job(job, "cron", hour=at.hour, minute=at.minute, id=name)
        now = datetime.now(self._tz)
        if now.time() >= at:
            soon = now + CATCH_UP_AFTER
            self.scheduler.add_job(job, "date", run_date=soon, id=f"{name}-catch-up")

    async def _once_today(self, job: str, work: Callable[[], Awaitable[None]]) -> None:
        """Run ``work`` unless another instance runs or ran ``job`` today (a failed run is not
        marked done: the next start, or tomorrow, runs it)."""
        day = self._ctx.clock().astimezone(self._tz).date()
        ctx, holder = self._ctx, self._holder
        if not await take_day(ctx, job=job, day=day, holder=holder, gone=processes.is_gone):
            return
        await work()
        await day_done(ctx, job=job, day=day, holder=holder)

    async def retention(self) -> None:
        """Today's retention run (by one instance), stopped between two writes by ``stop``."""
        task = asyncio.current_task()
        assert task is not None
        self._retaining.add(task)
        try:
            async with self._busy():
                await self._once_today("retention", self._retain)
        except asyncio.CancelledError:
            if not self._stopping:
                raise
            log.info("retention stopped with the process; its next run does the rest")
        finally:
            self._retaining.discard(task)

    async def _retain(self) -> None:
        assert self._data is not None
        swept = await retain(self._ctx, self._data.retention)
        dropped = ", ".join(f"{n} {kind}" for kind, n in sorted(swept.dropped.items()) if n)
        log.info(
            "retention: %s; %d writes, the longest %.0f ms%s",
            dropped or "nothing to drop",
            swept.writes,
            swept.longest * 1000,
            f"; {swept.refused} listed reporters kept" if swept.refused else "",
        )

    async def backup(self) -> None:
        """Today's backup into BACKUP_DIR, the newest BACKUP_KEEP kept (the backup service
        claims the day itself: one instance makes it, once)."""
        # Loaded only where a folder is set: the backup service and its drivers stay out else.
        from bot.services.data.backup import daily_backup

        assert self._data is not None
        assert self._data.backup_dir is not None
        async with self._busy():
            folder, keep = self._data.backup_dir, self._data.backup_keep
            try:
                await daily_backup(self._ctx, folder=folder, keep=keep)
            except ServiceRefusal as refusal:  # the day stays free: the next run tries again
                log.error("daily backup failed: %s", render("en", refusal.reason, **refusal.params))

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
        """Stop the jobs, letting one that runs finish its transaction; a retention run stops
        between two writes (what it did stays; the next run does the rest)."""
        self._stopping = True
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        for task in self._retaining:
            task.cancel()
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
