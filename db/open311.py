"""Keyword-only queries of the Open311 tables: keys, their recent POSTs, the requests' extras;
the steps a key reads as updates, and what a city's update made."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.access import CITY_PREFIX, is_city
from db.models import Case, CaseEvent, InboundReceipt, Open311Key, Open311Post, Open311Request


async def key_by_hash(*, session: AsyncSession, key_hash: str) -> Open311Key | None:
    """The key with this SHA-256, revoked or not."""
    return (await session.exec(select(Open311Key).where(Open311Key.key_hash == key_hash))).first()


async def key_by_name(*, session: AsyncSession, name: str, lock: bool = False) -> Open311Key | None:
    """The key called ``name``; ``lock`` takes its row lock (FOR UPDATE) on PostgreSQL."""
    query = select(Open311Key).where(Open311Key.name == name)
    return (await session.exec(query.with_for_update() if lock else query)).first()


async def lock_key(*, session: AsyncSession, key_id: int) -> None:
    """Hold key ``key_id``'s row until the transaction ends (PostgreSQL; SQLite holds its one
    write lock from BEGIN IMMEDIATE): the POSTs of one key are counted one at a time."""
    await session.exec(select(Open311Key.id).where(Open311Key.id == key_id).with_for_update())


async def all_keys(*, session: AsyncSession) -> list[Open311Key]:
    """Every key, by name."""
    return list((await session.exec(select(Open311Key).order_by(col(Open311Key.name)))).all())


async def posts_since(*, session: AsyncSession, key_id: int, since: datetime) -> list[datetime]:
    """When key ``key_id`` posted after ``since``, oldest first; older rows are dropped."""
    await session.exec(
        delete(Open311Post).where(col(Open311Post.key_id) == key_id, col(Open311Post.at) <= since)
    )
    query = (
        select(Open311Post.at)
        .where(Open311Post.key_id == key_id, col(Open311Post.at) > since)
        .order_by(col(Open311Post.at))
    )
    return list((await session.exec(query)).all())


async def requests_of(
    *, session: AsyncSession, numbers: Sequence[int]
) -> dict[int, Open311Request]:
    """What the cases ``numbers`` were filed with through Open311 (absent: another channel)."""
    if not numbers:
        return {}
    query = select(Open311Request).where(col(Open311Request.case_number).in_(list(numbers)))
    return {row.case_number: row for row in (await session.exec(query)).all()}


async def city_communities(*, session: AsyncSession, actor_id: str | None) -> list[str] | None:
    """The communities the key of city actor ``actor_id`` covers (empty: every one); None when
    that key is unknown or revoked — or, without a query, empty for anyone but a city."""
    if not is_city(actor_id):
        return []
    assert actor_id is not None
    key = await key_by_name(session=session, name=actor_id.removeprefix(CITY_PREFIX))
    return list(key.communities) if key is not None and key.revoked_at is None else None


async def published_steps(
    *,
    session: AsyncSession,
    kinds: Collection[str],
    start: datetime,
    end: datetime,
    communities: Sequence[str] | None,
    offset: int,
    limit: int,
) -> list[tuple[CaseEvent, Case]]:
    """Events of ``kinds`` at ``start``..``end`` of the cases of ``communities`` (None: any),
    with their cases, by time then id (a total order: pages neither repeat nor skip)."""
    query = (
        select(CaseEvent, Case)
        .join(Case, col(Case.number) == col(CaseEvent.case_number))
        .where(col(CaseEvent.kind).in_(sorted(kinds)))
        .where(col(CaseEvent.at) >= start, col(CaseEvent.at) <= end)
    )
    if communities is not None:
        query = query.where(col(Case.community_id).in_(list(communities)))
    query = query.order_by(col(CaseEvent.at), col(CaseEvent.id)).offset(offset).limit(limit)
    return [(event, case) for event, case in (await session.exec(query)).all()]


async def city_events(
    *, session: AsyncSession, source: str, external_id: str, number: int, actor_id: str
) -> list[int]:
    """The ids of the events on case ``number`` that the inbound ``source``/``external_id`` made
    by ``actor_id`` (made in its transaction, at its receipt's moment), in order."""
    receipt = (
        await session.exec(
            select(InboundReceipt.received_at).where(
                InboundReceipt.source == source, InboundReceipt.external_id == external_id
            )
        )
    ).first()
    if receipt is None:
        return []
    query = (
        select(CaseEvent.id)
        .where(CaseEvent.case_number == number, CaseEvent.actor_id == actor_id)
        .where(CaseEvent.at == receipt)
        .order_by(col(CaseEvent.id))
    )
    return [i for i in (await session.exec(query)).all() if i is not None]
