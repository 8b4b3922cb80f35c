"""Keyword-only queries the services share; no business rule lives here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.routing import Route
from db.models import (
    Case,
    CaseEvent,
    Category,
    Community,
    CommunityStaff,
    InboundReceipt,
    Person,
    RoutingRule,
    Setting,
)


async def get_case(*, session: AsyncSession, number: int, lock: bool = False) -> Case | None:
    """One case by number; ``lock`` takes a row lock (FOR UPDATE) on PostgreSQL."""
    query = select(Case).where(Case.number == number)
    if lock:
        query = query.with_for_update()
    return (await session.exec(query)).first()


async def case_events(*, session: AsyncSession, number: int) -> Sequence[CaseEvent]:
    """A case's events, oldest first."""
    query = select(CaseEvent).where(CaseEvent.case_number == number).order_by(col(CaseEvent.id))
    return (await session.exec(query)).all()


async def get_person(*, session: AsyncSession, person_id: str) -> Person | None:
    """One person by id."""
    return await session.get(Person, person_id)


async def person_by_telegram(*, session: AsyncSession, telegram_id: int) -> Person | None:
    """The person bound to a Telegram user id."""
    return (await session.exec(select(Person).where(Person.telegram_id == telegram_id))).first()


async def person_by_phone(*, session: AsyncSession, phone: str) -> Person | None:
    """The person with this E.164 phone, directory people first."""
    query = select(Person).where(Person.phone == phone).order_by(col(Person.source) != "directory")
    return (await session.exec(query)).first()


async def staff_ids(*, session: AsyncSession, community_id: str) -> list[str]:
    """Ids of the active staff of a community."""
    query = (
        select(Person.id)
        .join(CommunityStaff, col(CommunityStaff.person_id) == col(Person.id))
        .where(CommunityStaff.community_id == community_id, col(Person.active))
        .order_by(col(Person.id))
    )
    return list((await session.exec(query)).all())


async def supervisor_chain(*, session: AsyncSession, manager_id: str | None) -> list[str]:
    """Active supervisors above a manager, nearest first."""
    chain: list[str] = []
    current = await session.get(Person, manager_id) if manager_id else None
    # A chain is two or three people long; a loop in the directory is cut at the first repeat.
    while current is not None and current.supervisor_id and current.supervisor_id not in chain:
        current = await session.get(Person, current.supervisor_id)
        if current is None or current.id == manager_id:
            break
        chain.append(current.id)
    return [p for p in chain if (person := await session.get(Person, p)) and person.active]


async def routes(*, session: AsyncSession) -> list[Route]:
    """The routing rules in order."""
    rows = (await session.exec(select(RoutingRule).order_by(col(RoutingRule.position)))).all()
    return [Route(r.community, r.category, r.manager_id) for r in rows]


async def get_setting(*, session: AsyncSession, key: str, default: Any = None) -> Any:
    """A directory-wide setting's value, or ``default``."""
    row = await session.get(Setting, key)
    return row.value if row is not None else default


async def get_community(*, session: AsyncSession, community_id: str) -> Community | None:
    """One community by id."""
    return await session.get(Community, community_id)


async def get_category(*, session: AsyncSession, category_id: str) -> Category | None:
    """One category by id."""
    return await session.get(Category, category_id)


async def record_receipt(
    *, session: AsyncSession, source: str, external_id: str, at: datetime, sender: str | None = None
) -> bool:
    """Record an inbound update once; False when it was recorded before (a replay)."""
    values = {"source": source, "external_id": external_id, "received_at": at, "sender": sender}
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        insert(InboundReceipt)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["source", "external_id"])
        .returning(col(InboundReceipt.id))
    )
    return (await session.exec(statement)).first() is not None
