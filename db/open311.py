"""Keyword-only queries of the Open311 tables: keys, their recent POSTs, the requests' extras."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import Open311Key, Open311Post, Open311Request


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
