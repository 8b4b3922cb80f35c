"""Keyword-only queries the services share; no business rule lives here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, text
from sqlalchemy.orm import defer
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.routing import Route
from db.directory_cache import DIRECTORY_SETTINGS, DirectoryCache, directory
from db.models import (
    Case,
    CaseEvent,
    CaseFollower,
    CasePhoto,
    Category,
    Community,
    Identity,
    InboundReceipt,
    Person,
    Setting,
)

# cases.number is an INTEGER: a larger number names no case, and would fail the query on
# PostgreSQL (asyncpg refuses to bind it).
MAX_CASE_NUMBER = 2**31 - 1


async def case_photos(*, session: AsyncSession, number: int) -> list[CasePhoto]:
    """A case's photos in the order sent, without their bytes (``case_photo`` has them)."""
    query = (
        select(CasePhoto)
        .where(CasePhoto.case_number == number)
        .options(defer(CasePhoto.content))  # type: ignore[arg-type]
        .order_by(col(CasePhoto.position))
    )
    return list((await session.exec(query)).all())


async def case_photo(*, session: AsyncSession, number: int, position: int) -> CasePhoto | None:
    """One photo of a case with its bytes, or None."""
    query = select(CasePhoto).where(CasePhoto.case_number == number, CasePhoto.position == position)
    return (await session.exec(query)).first()


async def get_case(*, session: AsyncSession, number: int, lock: bool = False) -> Case | None:
    """One case by number; ``lock`` takes a row lock (FOR UPDATE) on PostgreSQL."""
    if not 0 < number <= MAX_CASE_NUMBER:
        return None
    query = select(Case).where(Case.number == number)
    if lock:
        query = query.with_for_update()
    return (await session.exec(query)).first()


async def latest_case_of(*, session: AsyncSession, resident_id: str) -> Case | None:
    """A resident's newest case."""
    query = select(Case).where(Case.resident_id == resident_id)
    return (await session.exec(query.order_by(col(Case.number).desc()).limit(1))).first()


async def case_events(*, session: AsyncSession, number: int) -> Sequence[CaseEvent]:
    """A case's events, oldest first."""
    query = select(CaseEvent).where(CaseEvent.case_number == number).order_by(col(CaseEvent.id))
    return (await session.exec(query)).all()


async def follower_ids(*, session: AsyncSession, number: int) -> list[str]:
    """The people following case ``number``, in the order they began to."""
    if not 0 < number <= MAX_CASE_NUMBER:
        return []  # no such case (and a number the database could not bind)
    query = (
        select(CaseFollower.person_id)
        .where(CaseFollower.case_number == number)
        .order_by(col(CaseFollower.id))
    )
    return list((await session.exec(query)).all())


async def get_person(*, session: AsyncSession, person_id: str) -> Person | None:
    """One person by id."""
    return await session.get(Person, person_id)


async def person_at(
    *, session: AsyncSession, channel: str, address: str
) -> tuple[Person, Identity] | None:
    """The active person whose address on ``channel`` this is, with that identity row (an
    inactive person's address is free for whoever writes from it)."""
    query = (
        select(Person, Identity)
        .join(Identity, col(Identity.person_id) == col(Person.id))
        .where(Identity.channel == channel, Identity.address == address, col(Person.active))
    )
    row = (await session.exec(query)).first()
    return (row[0], row[1]) if row is not None else None


async def identity_of(*, session: AsyncSession, person_id: str, channel: str) -> Identity | None:
    """A person's identity on one channel."""
    query = select(Identity).where(Identity.person_id == person_id, Identity.channel == channel)
    return (await session.exec(query)).first()


async def identities(
    *, session: AsyncSession, person_ids: Sequence[str]
) -> dict[str, list[Identity]]:
    """The identities of these people, in one query."""
    found: dict[str, list[Identity]] = {}
    query = select(Identity).where(col(Identity.person_id).in_(sorted(set(person_ids))))
    for row in (await session.exec(query.order_by(col(Identity.id)))).all():
        found.setdefault(row.person_id, []).append(row)
    return found


async def staff_ids(*, session: AsyncSession, community_id: str) -> list[str]:
    """Ids of the active staff of a community."""
    return list((await directory(session)).staff.get(community_id, ()))


async def supervisor_chain(*, session: AsyncSession, manager_id: str | None) -> list[str]:
    """Active supervisors above a manager, nearest first."""
    return (await directory(session)).supervisor_chain(manager_id)


async def routes(*, session: AsyncSession) -> list[Route]:
    """The routing rules in order."""
    return list((await directory(session)).routes)


async def get_setting(*, session: AsyncSession, key: str, default: Any = None) -> Any:
    """A directory-wide setting's value, or ``default``."""
    if key in DIRECTORY_SETTINGS and _directory_held(session):
        return (await directory(session)).settings.get(key, default)
    # Its own row otherwise: a command that wants the time zone need not read a city's whole
    # directory (7,000 communities and 100,000 people: seconds) to learn it.
    row = await session.get(Setting, key)
    return row.value if row is not None else default


def _directory_held(session: AsyncSession) -> bool:
    """Whether this process holds a directory snapshot (then its settings cost no query)."""
    return any(
        isinstance(value, DirectoryCache) and value.snapshot is not None
        for value in session.info.values()
    )


async def get_community(*, session: AsyncSession, community_id: str) -> Community | None:
    """One community by id (the directory's row: read it, don't change it)."""
    return (await directory(session)).communities.get(community_id)


async def community_by_number(*, session: AsyncSession, number: str) -> Community | None:
    """The active community whose own SMS number this is."""
    return (await directory(session)).community_by_number(number)


async def get_category(*, session: AsyncSession, category_id: str) -> Category | None:
    """One category by id (the directory's row: read it, don't change it)."""
    return (await directory(session)).categories.get(category_id)


async def people(*, session: AsyncSession, ids: Sequence[str]) -> dict[str, Person]:
    """The people with these ids, in one query (those already in the session are not read)."""
    wanted = set(ids)
    found = {i: p for i in wanted if (p := _in_session(session, i)) is not None}
    missing = wanted - found.keys()
    if missing:
        rows = await session.exec(select(Person).where(col(Person.id).in_(sorted(missing))))
        found.update((p.id, p) for p in rows.all())
    return found


async def is_active(*, session: AsyncSession, person_id: str) -> bool:
    """True for an active person of the directory (routing and escalation only name those)."""
    known = (await directory(session)).people.get(person_id)
    return known is not None and known[1]


def _in_session(session: AsyncSession, person_id: str) -> Person | None:
    """A person this session already holds (what ``session.get`` would return unread)."""
    held = session.sync_session.identity_map.get(
        session.sync_session.identity_key(Person, person_id)
    )
    return held if isinstance(held, Person) else None


async def serialize_on(*, session: AsyncSession, keys: Sequence[str]) -> None:
    """Hold a lock on each of ``keys`` until this transaction ends, so two transactions about
    the same thing (a send and its delivery report) run one after the other. SQLite's writers
    take turns anyway; PostgreSQL takes an advisory lock per key, in one order (no deadlock)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for key in sorted(set(keys)):
        lock = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")
        await session.exec(lock.bindparams(key=key))  # type: ignore[call-overload]


def serialize_keys(conn: Connection, keys: Sequence[str]) -> None:
    """``serialize_on`` in a Core unit (on the writer): the same locks, every key in one
    statement, taken in one order (the sorted subquery) whatever their number."""
    if conn.dialect.name != "postgresql" or not keys:
        return
    conn.execute(_ADVISORY_LOCKS, {"keys": sorted(set(keys))})


_ADVISORY_LOCKS = text(
    "SELECT pg_advisory_xact_lock(hashtextextended(k, 0))"
    " FROM (SELECT k FROM unnest(CAST(:keys AS text[])) AS k ORDER BY k) AS ordered"
)


async def record_receipt(
    *, session: AsyncSession, source: str, external_id: str, at: datetime, sender: str | None = None
) -> bool:
    """Record an inbound update once; False when it was recorded before (a replay)."""
    dialect = session.get_bind().dialect.name
    params = {"source": source, "external_id": external_id, "received_at": at, "sender": sender}
    return (await session.exec(receipt_statement(dialect), params=params)).first() is not None


_RECEIPTS: dict[str, Any] = {}


def receipt_statement(dialect: str) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING RETURNING id`` of an inbound's receipt, its values bound
    by name (source, external_id, received_at, sender): a row back means it is new. Built once
    per dialect; the async path and the writer's hot paths run this one statement."""
    if dialect not in _RECEIPTS:
        names = ("source", "external_id", "received_at", "sender")
        _RECEIPTS[dialect] = (
            insert_ignoring(dialect, InboundReceipt)
            .values({name: bindparam(name) for name in names})
            .on_conflict_do_nothing(index_elements=["source", "external_id"])
            .returning(col(InboundReceipt.id))
        )
    return _RECEIPTS[dialect]


def insert_ignoring(dialect: str, table: Any) -> Any:
    """The dialect's ``INSERT`` that takes ``on_conflict_do_nothing``."""
    # Imported when used: the PostgreSQL dialect costs a SQLite-only command ~25 ms of start-up.
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)
