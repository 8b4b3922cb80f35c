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
thread), each unit in its own transaction on a pooled connection: PostgreSQL has many writers,
orders them by row locks, and groups concurrent commits' WAL flushes itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.expression import ClauseElement, Executable

T = TypeVar("T")
Work = Callable[[Connection], Any]
MAX_BATCH = 256  # units per transaction: bounds how long one batch holds the write lock


@dataclass(slots=True)
class _Job:
    work: Work
    future: asyncio.Future[Any]


_MEMO = "wolaiban_batch_memo"


def batch_memo(conn: Connection) -> dict[str, Any]:
    """What the units of one batch may share: facts read in its transaction that no unit of
    it changes (the directory's version, the parties of its cases). Empty at each batch."""
    memo = conn.info.get(_MEMO)
    if memo is None:
        memo = conn.info[_MEMO] = {}
    return memo


Processor = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A Core statement's SQL for one dialect with positional binds, and its type processors."""

    sql: str
    names: tuple[str, ...]
    binds: tuple[Processor, ...]
    results: tuple[Processor, ...]

    def bind(self, params: Mapping[str, Any]) -> list[Any]:
        """The positional parameters, each through its type's bind processor."""
        # A list comprehension over the names: a generator here cost a fifth of the statement.
        return [
            params[n] if p is None else p(params[n])
            for n, p in zip(self.names, self.binds, strict=True)
        ]

    def rows(self, raw: list[Any]) -> list[tuple[Any, ...]]:
        """The driver's rows, each value through its column type's result processor."""
        if not any(self.results):
            return [tuple(r) for r in raw]
        procs = self.results
        return [tuple(v if p is None else p(v) for v, p in zip(r, procs, strict=True)) for r in raw]


# Keyed by the statement's id: each entry holds its statement, so no id is ever reused.
_COMPILED: dict[tuple[int, str, tuple[str, ...]], tuple[Executable, _Compiled | None]] = {}


def _compiled(conn: Connection, statement: Executable, keys: tuple[str, ...]) -> _Compiled | None:
    """``statement`` compiled once for SQLite and these parameter names; None where it cannot
    run on the bare cursor (another dialect, expanding or post-compiled binds, a column default
    SQLAlchemy would have to compute) — then it runs through ``Connection.execute``."""
    dialect = conn.dialect
    key = (id(statement), dialect.name, keys)
    if key in _COMPILED:
        return _COMPILED[key][1]
    found: _Compiled | None = None
    if dialect.name == "sqlite":
        compiled: Any = cast(ClauseElement, statement).compile(
            dialect=dialect, column_keys=list(keys)
        )
        names = tuple(compiled.positiontup or ())
        plain = compiled.positional and not compiled.literal_execute_params
        if plain and not compiled.post_compile_params and set(names) <= set(keys):
            columns = getattr(statement, "exported_columns", ())
            found = _Compiled(
                compiled.string,
                names,
                tuple(
                    compiled.binds[n].type.dialect_impl(dialect).bind_processor(dialect)
                    for n in names
                ),
                tuple(
                    c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns
                ),
            )
    _COMPILED[key] = (statement, found)
    return found


def execute(
    conn: Connection, statement: Executable, params: Mapping[str, Any] | None = None
) -> list[tuple[Any, ...]]:
    """Run one Core statement in the writer's transaction; its rows as tuples. On SQLite its
    SQL is compiled once (from the Core statement: one definition) and runs on the DBAPI
    cursor — a quarter of what ``Connection.execute`` costs per statement."""
    params = params or {}
    plan = _compiled(conn, statement, tuple(params))
    if plan is None:
        return [tuple(r) for r in conn.execute(statement, dict(params))]
    cursor = conn.connection.driver_connection.execute(plan.sql, plan.bind(params))  # type: ignore[union-attr]
    return plan.rows(cursor.fetchall())


def execute_many(
    conn: Connection, statement: Executable, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Run an insert for several rows (no RETURNING): ``executemany`` on SQLite's cursor."""
    if not rows:
        return
    plan = _compiled(conn, statement, tuple(rows[0]))
    if plan is None:
        conn.execute(statement, [dict(r) for r in rows])
        return
    driver: Any = conn.connection.driver_connection
    driver.executemany(plan.sql, [plan.bind(r) for r in rows])


def run_batch(conn: Connection, jobs: list[_Job]) -> list[tuple[bool, Any]]:
    """Run ``jobs`` in one transaction, each in its own savepoint; commit once. Each outcome is
    (True, result) or (False, the exception its unit raised, its work rolled back)."""
    outcomes: list[tuple[bool, Any]] = []
    conn.info[_MEMO] = {}
    with conn.begin():
        for job in jobs:
            try:
                with conn.begin_nested():
                    outcomes.append((True, job.work(conn)))
            except Exception as exc:
                outcomes.append((False, exc))
    return outcomes


@dataclass(slots=True)
class Writer:
    """One writer per process and database: ``await run(work)`` returns after its commit."""

    engine: AsyncEngine
    # SQLite: the synchronous engine the batches run on, and the write turn shared with the
    # async unit of work (None on PostgreSQL, where row locks order writers).
    sync_engine: Engine | None = None
    write_turn: asyncio.Lock | None = None
    _queue: list[_Job] = field(default_factory=list)
    _wake: asyncio.Event | None = None
    _task: asyncio.Task[None] | None = None
    _thread: ThreadPoolExecutor | None = None
    _connection: Connection | None = None
    _closing: bool = False
    batches: int = 0  # batches committed (for the benchmark's notes and the tests)

    async def run(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in the next batch; its result once that batch is committed."""
        if self.sync_engine is None:
            return await self._alone(work)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append(_Job(work, future))
        self._start().set()
        return await future

    def _start(self) -> asyncio.Event:
        if self._wake is None or self._task is None or self._task.done():
            self._wake = asyncio.Event()
            self._task = asyncio.create_task(self._loop(self._wake), name="wolaiban-writer")
        return self._wake

    async def _loop(self, wake: asyncio.Event) -> None:
        while True:
            await wake.wait()
            wake.clear()
            while self._queue:
                jobs, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                jobs = [j for j in jobs if not j.future.cancelled()]
                if jobs:
                    await self._commit(jobs)
            if self._closing:
                return

    async def _commit(self, jobs: list[_Job]) -> None:
        """One batch: run, commit, then settle every caller (all fail if the commit fails)."""
        try:
            outcomes = await self._execute(jobs)
        except BaseException as exc:
            self._drop_connection()
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

    async def _alone(self, work: Callable[[Connection], T]) -> T:
        """PostgreSQL: the unit in a transaction of its own on a pooled connection, alongside
        the others (measured: one writer connection running units one after another, each
        statement a round trip, was slower than the pool; PostgreSQL's own commit groups the
        WAL flushes of concurrent commits)."""
        job = _Job(work, asyncio.get_running_loop().create_future())
        async with self.engine.connect() as conn:
            [(ok, value)] = await conn.run_sync(run_batch, [job])
        self.batches += 1
        if not ok:
            raise value
        return cast(T, value)

    async def _execute(self, jobs: list[_Job]) -> list[tuple[bool, Any]]:
        assert self.sync_engine is not None
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

    def _drop_connection(self) -> None:
        """After a failed batch the connection starts afresh (its transaction is gone)."""
        conn, self._connection = self._connection, None
        if conn is not None and self._thread is not None:
            self._thread.submit(conn.invalidate)

    async def close(self) -> None:
        """Stop the writer: finish what is queued, close its connection and thread."""
        self._closing = True
        if self._task is not None and self._wake is not None and not self._task.done():
            self._wake.set()
            await self._task
        self._task = None
        if self._thread is not None:
            conn, self._connection = self._connection, None
            if conn is not None:
                await asyncio.get_running_loop().run_in_executor(self._thread, conn.close)
            self._thread.shutdown(wait=True)
            self._thread = None
        if self.sync_engine is not None:
            self.sync_engine.dispose()
