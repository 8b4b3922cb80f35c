"""Core statements run on the DBAPI connection inside the writer's batch: each compiled once per
dialect and set of parameter names, with its types' processors; the savepoints said there too.

SQLAlchemy's ``begin_nested`` and ``Connection.execute`` cost more than the statements
themselves (BENCHMARKS.md 1b, 1c); the Core statement stays the only definition of each.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Protocol, cast

from sqlalchemy.engine import Connection
from sqlalchemy.sql.expression import ClauseElement, Executable
from sqlalchemy.util import await_only

_SAVEPOINT = "wolaiban_unit"

MEMO_KEY = "wolaiban_batch_memo"


def batch_memo(conn: Connection) -> dict[str, Any]:
    """What the units of one batch may share: facts read in its transaction that no unit of
    it changes (the directory's version, the parties of its cases). Empty at each batch."""
    memo = conn.info.get(MEMO_KEY)
    if memo is None:
        memo = conn.info[MEMO_KEY] = {}
    return memo


Processor = Callable[[Any], Any]


class Driver(Protocol):
    """One batch's DBAPI connection: its statements and its units' savepoints, bare."""

    aborted: BaseException | None  # a statement failed and left the transaction unusable

    def fetch(self, sql: str, args: Sequence[Any]) -> Sequence[Sequence[Any]]: ...

    def many(self, sql: str, rows: list[Sequence[Any]]) -> None: ...

    def savepoint(self) -> None: ...

    def release(self) -> None: ...

    def rollback_to(self) -> None: ...


class _Sqlite:
    """pysqlite: the engine set ``isolation_level=None`` and said BEGIN IMMEDIATE itself."""

    __slots__ = ("aborted", "db")

    def __init__(self, conn: Connection) -> None:
        self.db: Any = conn.connection.driver_connection
        self.aborted: BaseException | None = None  # a failed statement leaves SQLite usable

    def fetch(self, sql: str, args: Sequence[Any]) -> Sequence[Sequence[Any]]:
        return cast(Sequence[Sequence[Any]], self.db.execute(sql, args).fetchall())

    def many(self, sql: str, rows: list[Sequence[Any]]) -> None:
        self.db.executemany(sql, rows)

    def savepoint(self) -> None:
        self.db.execute(f"SAVEPOINT {_SAVEPOINT}")

    def release(self) -> None:
        self.db.execute(f"RELEASE SAVEPOINT {_SAVEPOINT}")

    def rollback_to(self) -> None:
        self.db.execute(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
        self.db.execute(f"RELEASE SAVEPOINT {_SAVEPOINT}")


class _Asyncpg:
    """asyncpg under ``run_sync``: each call awaited from the greenlet (``await_only``), its
    statements prepared once per connection by asyncpg's own cache."""

    __slots__ = ("aborted", "db")

    def __init__(self, conn: Connection) -> None:
        fairy: Any = conn.connection
        adapter, self.db = fairy.dbapi_connection, fairy.driver_connection
        self.aborted: BaseException | None = None
        if not self.db.is_in_transaction():
            # SQLAlchemy's asyncpg adapter says BEGIN lazily, at its first statement; the bare
            # statements must not run before it, outside any transaction.
            await_only(adapter._start_transaction())
        if not self.db.is_in_transaction():
            raise RuntimeError("the writer's PostgreSQL transaction did not begin")

    def fetch(self, sql: str, args: Sequence[Any]) -> Sequence[Sequence[Any]]:
        try:
            return cast(Sequence[Sequence[Any]], await_only(self.db.fetch(sql, *args)))
        except BaseException as exc:
            self.aborted = exc
            raise

    def many(self, sql: str, rows: list[Sequence[Any]]) -> None:
        try:
            await_only(self.db.executemany(sql, rows))
        except BaseException as exc:
            self.aborted = exc
            raise

    def savepoint(self) -> None:
        await_only(self.db.execute(f"SAVEPOINT {_SAVEPOINT}"))

    def release(self) -> None:
        """Nothing: the COMMIT ends every savepoint of the batch (a round trip fewer a unit);
        a ``ROLLBACK TO`` names the newest one, the failing unit's."""

    def rollback_to(self) -> None:
        await_only(self.db.execute(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}"))
        self.aborted = None


# The batch each connection is running (set by ``run_batch``): ``execute`` finds its driver here.
DRIVERS: dict[Connection, Driver] = {}


def driver_for(conn: Connection) -> Driver:
    """The DBAPI side of ``conn``'s batch, its transaction begun."""
    if conn.dialect.driver == "pysqlite":
        return _Sqlite(conn)
    if conn.dialect.driver == "asyncpg":
        return _Asyncpg(conn)
    raise RuntimeError(f"the writer runs on pysqlite or asyncpg, not {conn.dialect.driver}")


def _getter(names: tuple[str, ...]) -> Callable[[Mapping[str, Any]], list[Any]]:
    """The values of ``names`` from a parameter mapping, in order, as a list."""
    if not names:
        return lambda _params: []
    if len(names) == 1:
        one = names[0]
        return lambda params: [params[one]]
    get = itemgetter(*names)
    return lambda params: list(get(params))


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A Core statement's SQL for one dialect with positional binds, and its type processors
    (only the positions that have one)."""

    sql: str
    values: Callable[[Mapping[str, Any]], list[Any]]
    binds: tuple[tuple[int, Processor], ...]
    results: tuple[tuple[int, Processor], ...]

    def bind(self, params: Mapping[str, Any]) -> list[Any]:
        """The positional parameters, each through its type's bind processor."""
        values = self.values(params)
        for i, process in self.binds:
            values[i] = process(values[i])
        return values

    def rows(self, raw: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
        """The driver's rows, each value through its column type's result processor."""
        if not self.results:
            return [tuple(r) for r in raw]
        out = []
        for r in raw:
            row = list(r)
            for i, process in self.results:
                row[i] = process(row[i])
            out.append(tuple(row))
        return out


# Keyed by the statement's id: each entry holds its statement, so no id is ever reused.
_COMPILED: dict[tuple[int, str, tuple[str, ...], bool], tuple[Executable, _Compiled | None]] = {}


def _compiled(
    conn: Connection, statement: Executable, keys: tuple[str, ...], many: bool = False
) -> _Compiled | None:
    """``statement`` compiled once for this dialect and these parameter names (``many``: for
    ``executemany``, no RETURNING); None where it cannot run on the bare driver (expanding or
    post-compiled binds, a column default SQLAlchemy would have to compute) — then it runs
    through ``Connection.execute``."""
    dialect = conn.dialect
    key = (id(statement), dialect.name, keys, many)
    if key in _COMPILED:
        return _COMPILED[key][1]
    found: _Compiled | None = None
    columns = tuple(getattr(statement, "exported_columns", ()))
    compiled: Any = cast(ClauseElement, statement).compile(
        dialect=dialect,
        column_keys=list(keys),
        # An INSERT without RETURNING stays so (PostgreSQL would add the primary key's).
        for_executemany=many or not columns,
    )
    names = tuple(compiled.positiontup or ())
    plain = compiled.positional and not compiled.literal_execute_params
    if plain and not compiled.post_compile_params and set(names) <= set(keys):
        types = [compiled.binds[n].type.dialect_impl(dialect) for n in names]
        binds = [t.bind_processor(dialect) for t in types]
        results = [c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns]
        found = _Compiled(
            compiled.string,
            _getter(names),
            tuple((i, p) for i, p in enumerate(binds) if p is not None),
            tuple((i, p) for i, p in enumerate(results) if p is not None),
        )
    _COMPILED[key] = (statement, found)
    return found


def execute(
    conn: Connection, statement: Executable, params: Mapping[str, Any] | None = None
) -> list[tuple[Any, ...]]:
    """Run one Core statement in the writer's transaction; its rows as tuples. Its SQL is
    compiled once (from the Core statement: one definition) and runs on the DBAPI connection
    — a quarter of what ``Connection.execute`` costs per statement."""
    params = params or {}
    driver = DRIVERS.get(conn)
    plan = None if driver is None else _compiled(conn, statement, tuple(params))
    if plan is None or driver is None:
        return [tuple(r) for r in conn.execute(statement, dict(params))]
    return plan.rows(driver.fetch(plan.sql, plan.bind(params)))


def execute_many(
    conn: Connection, statement: Executable, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Run an insert for several rows (no RETURNING): the driver's ``executemany``."""
    if not rows:
        return
    driver = DRIVERS.get(conn)
    plan = None if driver is None else _compiled(conn, statement, tuple(rows[0]), many=True)
    if plan is None or driver is None:
        conn.execute(statement, [dict(r) for r in rows])
        return
    driver.many(plan.sql, [plan.bind(r) for r in rows])
