"""The async engine for SQLite (WAL, busy timeout, BEGIN IMMEDIATE) and PostgreSQL (asyncpg)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import StaticPool
from sqlalchemy.util import await_only
from sqlmodel.ext.asyncio.session import AsyncSession

from db.directory_cache import DirectoryCache
from db.replica import FAILURES, Replica, written
from db.writer import PG_LANES, PG_MAX_BATCH, Writer

T = TypeVar("T")

_READ_ONLY = "wolaiban_read_only"


def _sqlite_tuning(engine: Engine) -> None:
    """Make SQLite safe for several writers: WAL, a busy timeout, immediate write locks."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so we can say BEGIN IMMEDIATE ourselves.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Read-then-write transactions must hold the write lock from the start, or two of them
        # both read, then one fails to upgrade its lock ("database is locked").
        read_only = conn.get_execution_options().get(_READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


@dataclass(frozen=True, slots=True)
class Database:
    """An engine and its session factories; ``transaction()`` is one unit of work."""

    url: str
    engine: AsyncEngine
    _writer: async_sessionmaker[AsyncSession]
    _reader: async_sessionmaker[AsyncSession]
    # SQLite has one write lock per file. Writers of this process queue here, in arrival order,
    # instead of in SQLite's busy handler, which sleeps in growing steps (up to 100 ms) and
    # wakes in no order: under load the lock sat free while waiters slept, and some waited
    # past the busy timeout. Other processes still meet the busy timeout.
    _write_turn: asyncio.Lock | None = None
    # The single writer of the hot paths (``db/writer.py``): synchronous Core units, committed
    # in groups; on SQLite it takes the same write turn, so there is still one writer.
    writer: Writer | None = None
    directory_cache: DirectoryCache | None = None
    # DATABASE_READ_URL: a streaming replica for the reads that may lag (``reads``).
    replica: Replica | None = None

    async def write(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` (Core statements on a sync connection) in the writer's next batch; its
        result once that batch is committed."""
        assert self.writer is not None
        return await self.writer.run(work)

    @property
    def is_sqlite(self) -> bool:
        """True for the embedded SQLite store."""
        return self.engine.dialect.name == "sqlite"

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One read-write transaction: committed when the block ends, rolled back on error."""
        turn: AbstractAsyncContextManager[object] = self._write_turn or nullcontext()
        async with turn, self._writer() as session, session.begin():
            yield session

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """A read-only transaction (no write lock on SQLite)."""
        async with self._reader() as session, session.begin():
            yield session

    async def written(self) -> int | None:
        """With a replica, the primary's WAL position now (a reader who just wrote sees the
        replica once it has replayed this far); None without one."""
        return await written(self.engine) if self.replica is not None else None

    async def reads(self, *, after: int | None = None) -> Database:
        """This database reading from the replica when it answers and has replayed ``after``
        (the reader's own last write), else this database; counted for ``/metrics``. Writes
        made through either always go to the primary."""
        replica = self.replica
        if replica is None:
            return self
        served = await replica.reached(after)
        replica.count("replica" if served else "primary")
        return self._on_replica(replica) if served else self

    async def read_lagging(
        self, work: Callable[[Database], Awaitable[T]], *, after: int | None = None
    ) -> T:
        """``work`` on ``reads(after=after)``; when it fails on the replica's side, ``work``
        again on the primary (a read may be repeated): a reader never sees the replica fail."""
        replica = self.replica
        if replica is None or not await replica.reached(after):
            if replica is not None:
                replica.count("primary")
            return await work(self)
        try:
            done = await work(self._on_replica(replica))
        except FAILURES as error:
            replica.failed(error)  # left alone for a while (said once), this read repeated
        else:
            replica.count("replica")
            return done
        replica.count("primary")
        return await work(self)

    def _on_replica(self, replica: Replica) -> Database:
        """This database with its read-only sessions on the replica."""
        return dataclasses.replace(
            self, _reader=replica.sessions, replica=None, directory_cache=replica.directory_cache
        )

    async def dispose(self) -> None:
        """Stop the writer and close every pooled connection (the replica's too)."""
        if self.writer is not None:
            await self.writer.close()
        if self.replica is not None:
            await self.replica.dispose()
        await self.engine.dispose()


def open_database(
    url: str,
    *,
    echo: bool = False,
    connect_args: dict[str, Any] | None = None,
    read_url: str | None = None,
) -> Database:
    """Create the engine for ``url`` (sqlite+aiosqlite:// or postgresql+asyncpg://), with a
    streaming replica of it at ``read_url`` (PostgreSQL only) for the reads that may lag."""
    if read_url is not None and url.startswith("sqlite"):
        raise ValueError("a replica (read_url) needs a PostgreSQL primary")
    engine = create_async_engine(
        url,
        echo=echo,
        pool_pre_ping=not url.startswith("sqlite"),
        connect_args=connect_args or {},
    )
    turn = asyncio.Lock() if engine.dialect.name == "sqlite" else None
    if engine.dialect.name == "sqlite":
        _sqlite_tuning(engine.sync_engine)
        writer = Writer(engine, _sync_sqlite(url, connect_args or {}), turn)
    else:
        _one_trip_ping(engine.sync_engine)
        writer = Writer(engine, lanes=PG_LANES, max_batch=PG_MAX_BATCH)
    reader_engine = engine.execution_options(**{_READ_ONLY: True})
    cache = DirectoryCache()
    info = cache.session_info()
    return Database(
        url=url,
        engine=engine,
        _writer=async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False, info=info),
        _reader=async_sessionmaker(
            reader_engine, class_=AsyncSession, expire_on_commit=False, info=info
        ),
        _write_turn=turn,
        writer=writer,
        directory_cache=cache,
        replica=Replica(read_url) if read_url is not None else None,
    )


def _one_trip_ping(engine: Engine) -> None:
    """PostgreSQL: the pool's pre-ping (each checkout of a used connection) in one round trip.

    SQLAlchemy's asyncpg ping opens a transaction around a prepared ``;`` and rolls it back
    (BEGIN, the statement, ROLLBACK: three round trips, for pgbouncer's transaction mode); every
    use case pays it once per transaction (measured: 8 % of ``run`` under the intake bench). A
    ``SELECT 1`` in the simple protocol prepares nothing, so it suits pgbouncer too; its failure
    goes through the adapter like any other, so a dead connection is still replaced."""
    if engine.dialect.driver != "asyncpg":
        return

    def do_ping(dbapi_connection: Any) -> bool:
        try:
            await_only(dbapi_connection._connection.execute("SELECT 1"))
        except Exception as error:
            dbapi_connection._handle_exception(error)
        return True

    setattr(engine.dialect, "do_ping", do_ping)  # noqa: B010 - an instance's method, replaced


def _sync_sqlite(url: str, connect_args: dict[str, Any]) -> Engine:
    """The writer's synchronous engine on the same SQLite file: one connection, used from the
    writer's thread only (made lazily: a command that never writes through it opens nothing)."""
    sync_url = make_url(url).set(drivername="sqlite+pysqlite")
    args = {**connect_args, "check_same_thread": False}
    engine = create_engine(sync_url, connect_args=args, poolclass=StaticPool)
    _sqlite_tuning(engine)
    return engine
