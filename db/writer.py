"""The single writer: units of work handed to one task and committed in groups.

A unit is a synchronous function of a SQLAlchemy ``Connection`` (Core statements, no ORM). The
writer runs a batch — every unit that arrived while the last batch was committing — in one
transaction: each unit in its own SAVEPOINT (a unit that raises is rolled back alone and its
caller gets its exception), then one COMMIT, and only then does any caller's ``await`` return.
So a caller that answers after ``run`` returns answers only for what is committed.

SQLite: the batch runs on a synchronous pysqlite connection in the writer's own thread — one
thread hop per batch, not one per statement — holding the database's write turn (the lock the
async unit of work takes too), so this process still has one writer. PostgreSQL: the same
functions run through ``AsyncConnection.run_sync`` on the async engine (asyncpg, greenlet, no
thread), on a few connections ("lanes") the writer keeps: each lane runs a batch of its own
while the others run theirs, so concurrent batches' statements overlap their round trips and
PostgreSQL groups their commits' WAL flushes.

The savepoints and the compiled statements (``db/statements.py``) run on the DBAPI connection:
SQLAlchemy's ``begin_nested`` and ``Connection.execute`` cost more than the statements.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, nullcontext, suppress
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from db.statements import DRIVERS, MEMO_KEY, Driver, driver_for

T = TypeVar("T")
Work = Callable[[Connection], Any]
MAX_BATCH = 256  # units per transaction: bounds how long one batch holds the write lock
# PostgreSQL: each unit's savepoint that writes is a subtransaction with an id of its own; past
# 64 in one transaction the backend's cache of them overflows and every other session's
# snapshot has to look them up in pg_subtrans. So a batch stays below that.
PG_MAX_BATCH = 48
PG_LANES = 3  # connections the writer keeps on PostgreSQL (measured: BENCHMARKS.md 1c)


@dataclass(slots=True)
class _Job:
    work: Work
    future: asyncio.Future[Any]


class SwallowedError(RuntimeError):
    """A unit returned after one of its statements failed on PostgreSQL, whose transaction
    then refuses everything (and would turn the COMMIT into a ROLLBACK): it did not commit."""


def run_batch(conn: Connection, jobs: list[_Job]) -> list[tuple[bool, Any]]:
    """Run ``jobs`` in one transaction, each in its own savepoint; commit once. Each outcome is
    (True, result) or (False, the exception its unit raised, its work rolled back). A batch of
    one needs no savepoint: its unit's failure rolls the transaction back."""
    outcomes: list[tuple[bool, Any]] = []
    conn.info[MEMO_KEY] = {}
    with conn.begin() as transaction:
        driver = DRIVERS[conn] = driver_for(conn)
        try:
            if len(jobs) == 1:
                outcome = _run(jobs[0], conn, driver)
                if not outcome[0]:
                    transaction.rollback()
                outcomes.append(outcome)
            else:
                for job in jobs:
                    driver.savepoint()
                    outcome = _run(job, conn, driver)
                    if outcome[0]:
                        driver.release()
                    else:
                        driver.rollback_to()
                    outcomes.append(outcome)
        finally:
            del DRIVERS[conn]
    return outcomes


def _run(job: _Job, conn: Connection, driver: Driver) -> tuple[bool, Any]:
    """One unit's outcome; a unit that swallowed a failed statement on PostgreSQL failed."""
    try:
        result = job.work(conn)
    except Exception as exc:
        return False, exc
    if driver.aborted is not None:
        swallowed = SwallowedError("a statement of this unit failed; nothing of it committed")
        swallowed.__cause__ = driver.aborted
        return False, swallowed
    return True, result


@dataclass(slots=True)
class _Lane:
    """One batch at a time, on its own connection (PostgreSQL) or the writer's thread (SQLite)."""

    wake: asyncio.Event = field(default_factory=asyncio.Event)
    connection: AsyncConnection | None = None
    task: asyncio.Task[None] | None = None
    used: float = 0.0  # the event loop's time when its last batch ended


@dataclass(slots=True)
class Writer:
    """One writer per process and database: ``await run(work)`` returns after its commit."""

    engine: AsyncEngine
    # SQLite: the synchronous engine the batches run on, and the write turn shared with the
    # async unit of work (None on PostgreSQL, where row locks order writers).
    sync_engine: Engine | None = None
    write_turn: asyncio.Lock | None = None
    lanes: int = 1  # batches at once: one on SQLite (one write lock), a few on PostgreSQL
    max_batch: int = MAX_BATCH
    # PostgreSQL: a lane idle this long gives its connection back to the pool and takes one
    # again, pre-pinged, for its next batch (one that the server closed meanwhile is replaced);
    # a busy lane keeps it, batch after batch, without a ping.
    lane_idle: float = 1.0
    _queue: list[_Job] = field(default_factory=list)
    _lanes: list[_Lane] = field(default_factory=list)
    _idle: list[_Lane] = field(default_factory=list)
    _thread: ThreadPoolExecutor | None = None
    _connection: Connection | None = None
    _closing: bool = False
    batches: int = 0  # batches committed (for the benchmark's notes and the tests)

    async def run(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in the next batch; its result once that batch is committed."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append(_Job(work, future))
        self._kick()
        return await future

    def _kick(self) -> None:
        """Wake an idle lane, or open another while there are fewer than ``lanes``; else the
        busy lanes take the job when their batch is committed."""
        while self._idle:
            lane = self._idle.pop()
            if lane.task is not None and not lane.task.done():
                lane.wake.set()
                return
        self._lanes = [lane for lane in self._lanes if lane.task and not lane.task.done()]
        if len(self._lanes) < self.lanes:
            lane = _Lane()
            lane.task = asyncio.create_task(self._serve(lane), name="wolaiban-writer")
            self._lanes.append(lane)

    async def _serve(self, lane: _Lane) -> None:
        try:
            while True:
                while self._queue:
                    jobs = self._queue[: self.max_batch]
                    del self._queue[: self.max_batch]
                    jobs = [j for j in jobs if not j.future.cancelled()]
                    if jobs:
                        await self._commit(lane, jobs)
                if self._closing:
                    return
                lane.wake.clear()
                self._idle.append(lane)
                await lane.wake.wait()
        finally:
            if lane.connection is not None:
                conn, lane.connection = lane.connection, None
                with suppress(Exception):
                    await conn.close()

    async def _commit(self, lane: _Lane, jobs: list[_Job]) -> None:
        """One batch: run, commit, then settle every caller (all fail if the commit fails)."""
        try:
            outcomes = await self._execute(lane, jobs)
        except BaseException as exc:
            await self._drop_connection(lane)
            for job in jobs:
                if not job.future.done():
                    failed = exc if isinstance(exc, Exception) else RuntimeError("writer stopped")
                    job.future.set_exception(failed)
            if not isinstance(exc, Exception):
                raise
            return
        self.batches += 1
        for job, (ok, value) in zip(jobs, outcomes, strict=True):
            if job.future.done():
                continue
            if ok:
                job.future.set_result(value)
            else:
                job.future.set_exception(value)

    async def _execute(self, lane: _Lane, jobs: list[_Job]) -> list[tuple[bool, Any]]:
        if self.sync_engine is None:
            now = asyncio.get_running_loop().time()
            if lane.connection is not None and now - lane.used > self.lane_idle:
                conn, lane.connection = lane.connection, None
                await conn.close()
            if lane.connection is None:
                lane.connection = await self.engine.connect()
            try:
                return await lane.connection.run_sync(run_batch, jobs)
            finally:
                lane.used = asyncio.get_running_loop().time()
        turn: AbstractAsyncContextManager[object] = self.write_turn or nullcontext()
        async with turn:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor(), self._in_thread, jobs)

    def _executor(self) -> ThreadPoolExecutor:
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="wolaiban-writer")
        return self._thread

    def _in_thread(self, jobs: list[_Job]) -> list[tuple[bool, Any]]:
        assert self.sync_engine is not None
        if self._connection is None or self._connection.closed:
            self._connection = self.sync_engine.connect()
        return run_batch(self._connection, jobs)

    async def _drop_connection(self, lane: _Lane) -> None:
        """After a failed batch the connection starts afresh (its transaction is gone)."""
        if lane.connection is not None:
            conn, lane.connection = lane.connection, None
            with suppress(Exception):
                await conn.invalidate()
            with suppress(Exception):
                await conn.close()
        sync, self._connection = self._connection, None
        if sync is not None and self._thread is not None:
            self._thread.submit(sync.invalidate)

    async def close(self) -> None:
        """Stop the writer: finish what is queued, close its connections and thread."""
        self._closing = True
        for lane in self._idle:
            lane.wake.set()
        self._idle.clear()
        tasks = [lane.task for lane in self._lanes if lane.task is not None]
        self._lanes = []
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._thread is not None:
            conn, self._connection = self._connection, None
            if conn is not None:
                await asyncio.get_running_loop().run_in_executor(self._thread, conn.close)
            self._thread.shutdown(wait=True)
            self._thread = None
        if self.sync_engine is not None:
            self.sync_engine.dispose()
