"""The rates' rollup: every case's share of the rates as it will stand once all its deadlines have
passed (``core.rates.settled``), per community, holder and creation day — and the same counts
summed per calendar month and year, so a long period reads a few rows (``db.rollup``) — kept by
every write of a case.

``db.aggregates.rate_counts`` sums these rows and takes back, case by case, only the shares whose
deadline is still ahead of ``now`` (a recent range of deadlines, not the open backlog). The
listener below sees every ``Case`` the ORM writes — whatever the use case — and moves its share
from the row it was in to the row it is in now, inside the same flush, so the rollup commits or
rolls back with the step; the hot path inserts its cases with Core and adds their shares with
``add_cases`` in the same transaction. Nothing deletes cases today (retention empties texts and
photos, never a case row); were one deleted through the ORM it would leave the rollup, through a
bulk DELETE it would stay counted — the rates of a month already graded would not change.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from functools import cache
from typing import Any, Literal

from sqlalchemy import Connection, Index, Table, event, inspect, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, UOWTransaction
from sqlalchemy.orm.base import NO_VALUE
from sqlmodel import Field, SQLModel

from core.cases import Rating, Status
from core.rates import NO_CASES, CaseFacts, Rates, settled
from db.models.cases import Case
from db.statements import execute_many

UNASSIGNED_KEY = "-"  # the holder key of the cases no manager holds
Span = Literal["month", "year"]
SPANS: tuple[Span, ...] = ("month", "year")


class RollupCounts(SQLModel):
    """The settled counts of a rollup row: ``core.rates.Rates``'s fields, in its order."""

    cases: int = 0
    responded_in_time: int = 0
    response_base: int = 0
    resolved: int = 0
    resolution_base: int = 0
    satisfied: int = 0
    basically_satisfied: int = 0
    dissatisfied: int = 0


class RateRollup(RollupCounts, table=True):
    """The settled counts of the cases created on one UTC ``day`` in one community under one
    holder (``manager_key``, ``-`` for none)."""

    __tablename__ = "rate_rollup"
    # A period over every community reads a range of days; a few communities, their own rows.
    __table_args__ = (Index("ix_rate_rollup_community_day", "community_id", "day"),)

    day: date = Field(primary_key=True)
    community_id: str = Field(primary_key=True, max_length=64)
    manager_key: str = Field(primary_key=True, max_length=64)


class RateRollupSpan(RollupCounts, table=True):
    """The day rows of one calendar ``span`` (``month`` or ``year`` of UTC days) from its first
    ``day``, summed per community and holder.

    One table for both spans, not one each: the rows are alike, so one upsert statement keeps
    both in a flush and one query reads both (a period is years, months and the odd day)."""

    __tablename__ = "rate_rollup_span"
    # By span and start, every community's (the primary key); a few communities', their own.
    __table_args__ = (Index("ix_rate_rollup_span_community", "community_id", "span", "day"),)

    span: str = Field(primary_key=True, max_length=8)
    day: date = Field(primary_key=True)
    community_id: str = Field(primary_key=True, max_length=64)
    manager_key: str = Field(primary_key=True, max_length=64)


COUNTS = tuple(RollupCounts.model_fields)


# The shares still ahead of the clock are found by deadline within each status: a range of
# recent cases — unacknowledged before the acknowledge deadline (``ix_cases_status_ack_due_at``),
# not yet closed before the resolve deadline (``ix_cases_status_resolve_due_at``).
Index(
    "ix_cases_status_ack_due_at",
    Case.__table__.c.status,  # type: ignore[attr-defined]
    Case.__table__.c.ack_due_at,  # type: ignore[attr-defined]
)
Index(
    "ix_cases_status_resolve_due_at",
    Case.__table__.c.status,  # type: ignore[attr-defined]
    Case.__table__.c.resolve_due_at,  # type: ignore[attr-defined]
)
# The open cases of a period by creation time, one seek within each status (the status index
# alone would read every open case, ``created_at``'s every case of the period).
Index(
    "ix_cases_status_created_at",
    Case.__table__.c.status,  # type: ignore[attr-defined]
    Case.__table__.c.created_at,  # type: ignore[attr-defined]
)
# One community's open cases of a period (its staff's rates page, a digest of a few communities)
# are one seek here; the index above would read every community's to keep one's.
Index(
    "ix_cases_community_status_created_at",
    Case.__table__.c.community_id,  # type: ignore[attr-defined]
    Case.__table__.c.status,  # type: ignore[attr-defined]
    Case.__table__.c.created_at,  # type: ignore[attr-defined]
)

_FIELDS = frozenset(
    {
        "status",
        "community_id",
        "manager_id",
        "created_at",
        "duplicate_of",
        "ack_due_at",
        "acknowledged_at",
        "resolve_due_at",
        "resolved_at",
        "rating",
        "closed_at",
    }
)

Key = tuple[date, str, str]
SpanKey = tuple[str, date, str, str]


def utc_day(moment: datetime) -> date:
    """The UTC date of ``moment`` (a naive one is UTC, as SQLite returns them)."""
    return moment.astimezone(UTC).date() if moment.tzinfo is not None else moment.date()


def span_start(span: Span, day: date) -> date:
    """The first day of the month or year ``day`` is in."""
    return day.replace(day=1) if span == "month" else day.replace(month=1, day=1)


def manager_key(manager_id: str | None) -> str:
    """The holder key of a case: its manager, or ``-`` for none."""
    return manager_id or UNASSIGNED_KEY


def _share(values: dict[str, Any]) -> tuple[Key, Rates] | None:
    """Where a case with these column values counts in the rollup, and what; None when it is
    not there (a merged duplicate: counted in its original)."""
    if values["duplicate_of"] is not None:
        return None
    rating = values["rating"]
    facts = CaseFacts(
        status=Status(values["status"]),
        ack_due_at=values["ack_due_at"],
        acknowledged_at=values["acknowledged_at"],
        resolve_due_at=values["resolve_due_at"],
        resolved_at=values["resolved_at"],
        rating=Rating(rating) if rating else None,
        closed_at=values["closed_at"],
    )
    key = (utc_day(values["created_at"]), values["community_id"], manager_key(values["manager_id"]))
    return key, settled(facts)


def _now(case: Case) -> dict[str, Any]:
    return {name: getattr(case, name) for name in _FIELDS}


def _before(session: Session, case: Case) -> dict[str, Any]:
    """The values the database holds for ``case`` (as of its last flush)."""
    committed = inspect(case).committed_state
    values = {name: committed.get(name, getattr(case, name)) for name in _FIELDS}
    if any(value is NO_VALUE for value in values.values()):
        # Set without having been loaded: the row, not yet written, still holds the old values.
        table = Case.__table__  # type: ignore[attr-defined]
        query = select(*(table.c[name] for name in _FIELDS)).where(table.c.number == case.number)
        values = dict(session.connection().execute(query).one()._mapping)
    return values


def _move(deltas: dict[Key, Rates], share: tuple[Key, Rates] | None, sign: int) -> None:
    if share is not None:
        key, rates = share
        deltas[key] = deltas.get(key, NO_CASES).plus(rates, sign)


def _keep_rollup(session: Session, _context: UOWTransaction, _instances: object) -> None:
    """Move the contribution of every case this flush writes, in the same transaction."""
    deltas: dict[Key, Rates] = {}
    for case in session.new:
        if isinstance(case, Case):
            _move(deltas, _share(_now(case)), 1)
    for case in session.dirty:
        # Only a change of what the rates read can move a case (not a reminder, a follower...).
        if isinstance(case, Case) and _FIELDS & inspect(case).committed_state.keys():
            _move(deltas, _share(_before(session, case)), -1)
            _move(deltas, _share(_now(case)), 1)
    for case in session.deleted:
        if isinstance(case, Case):
            _move(deltas, _share(_before(session, case)), -1)
    write_shares(session.connection(), deltas)


def add_cases(connection: Connection, cases: Iterable[Case]) -> None:
    """Add the shares of ``cases``, just inserted without the ORM, in ``connection``'s
    transaction (the hot path: its Core insert passes the listener by)."""
    deltas: dict[Key, Rates] = {}
    for case in cases:
        _move(deltas, _share(_now(case)), 1)
    write_shares(connection, deltas)


def write_shares(connection: Connection, deltas: dict[Key, Rates]) -> None:
    """Add ``deltas`` (per day row) to the day rows and to their month and year rows."""
    spans: dict[SpanKey, Rates] = {}
    for (day, community, holder), rates in deltas.items():
        for span in SPANS:
            key = (span, span_start(span, day), community, holder)
            spans[key] = spans.get(key, NO_CASES).plus(rates)
    # A step moves a case between at most two days, so a few rows each; one statement a tier.
    # Days before spans, each in key order: concurrent writers lock the rows in one order
    # (PostgreSQL), so two steps never wait on each other's rows crosswise.
    tiers = ((_table(RateRollup), deltas), (_table(RateRollupSpan), spans))
    for table, changes in tiers:
        if rows := _rows(table, changes):
            execute_many(connection, _upsert(connection.dialect.name, table), rows)


def _rows(table: Table, changes: dict[Key, Rates] | dict[SpanKey, Rates]) -> list[dict[str, Any]]:
    """The rows of ``table`` that add ``changes`` (keyed as its primary key), zeros left out."""
    keys = [column.name for column in table.primary_key]
    return [
        dict(zip(keys, key, strict=True)) | dict(zip(COUNTS, rates.counts(), strict=True))
        for key, rates in sorted(changes.items())
        if any(rates.counts())
    ]


def _table(model: type[SQLModel]) -> Table:
    return model.__table__  # type: ignore[attr-defined,no-any-return]


@cache
def _upsert(dialect: str, table: Table) -> Any:
    """INSERT a row, or add its counts to the one already there (both dialects say it so)."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table)
    added = {name: table.c[name] + statement.excluded[name] for name in COUNTS}
    keys = [column.name for column in table.primary_key]
    return statement.on_conflict_do_update(index_elements=keys, set_=added)


event.listen(Session, "before_flush", _keep_rollup)
