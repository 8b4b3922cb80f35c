"""What a pull of one customer-service account's message stream keeps in the database: where the
next pull starts (table ``inbound_cursor``, "wechat:<open_kfid>") and who is pulling it now (a
short lease in ``provider_token``, so one instance pulls a stream at a time on SQLite and
PostgreSQL alike: a conditional UPDATE that one writer wins)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

from sqlalchemy import Table, or_, update
from sqlalchemy.engine import CursorResult
from sqlmodel import col, select

from bot.services.unit.context import ServiceContext
from db import queries
from db.models import InboundCursor, ProviderToken

_CURSORS = cast(Table, InboundCursor.__table__)  # type: ignore[attr-defined]
_LEASES = cast(Table, ProviderToken.__table__)  # type: ignore[attr-defined]
PREFIX = "wechat:"


def source_of(open_kfid: str) -> str:
    """The stream's row in ``inbound_cursor``."""
    return f"{PREFIX}{open_kfid}"


def _lease_key(open_kfid: str) -> str:
    return f"lease:{PREFIX}{open_kfid}"


async def take(ctx: ServiceContext, open_kfid: str, owner: str, lease: timedelta) -> bool:
    """Take (or renew) the stream's lease for ``owner``; False while another holds it."""
    now = ctx.clock()
    key = _lease_key(open_kfid)
    async with ctx.db.transaction() as session:
        dialect = session.get_bind().dialect.name
        row = queries.insert_ignoring(dialect, ProviderToken).values(key=key, token="")
        await session.exec(row.on_conflict_do_nothing(index_elements=["key"]))
        free = or_(
            _LEASES.c.lease_until.is_(None),
            _LEASES.c.lease_until <= now,
            _LEASES.c.lease_owner == owner,
        )
        taken = await session.exec(
            update(_LEASES)
            .where(_LEASES.c.key == key, free)
            .values(lease_owner=owner, lease_until=now + lease)
        )
        return _rowcount(taken) == 1


async def release(ctx: ServiceContext, open_kfid: str, owner: str) -> None:
    """Free the stream's lease, if ``owner`` holds it."""
    async with ctx.db.transaction() as session:
        await session.exec(
            update(_LEASES)
            .where(_LEASES.c.key == _lease_key(open_kfid), _LEASES.c.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
        )


async def cursor(ctx: ServiceContext, open_kfid: str) -> str:
    """Where the next pull of the stream starts ("" for its beginning); the row made if new."""
    source = source_of(open_kfid)
    async with ctx.db.transaction() as session:
        dialect = session.get_bind().dialect.name
        row = queries.insert_ignoring(dialect, InboundCursor).values(
            source=source, cursor="", updated_at=ctx.clock()
        )
        await session.exec(row.on_conflict_do_nothing(index_elements=["source"]))
        query = select(InboundCursor.cursor).where(col(InboundCursor.source) == source)
        return (await session.exec(query)).first() or ""


async def advance(ctx: ServiceContext, open_kfid: str, old: str, new: str) -> bool:
    """Move the stream's cursor from ``old`` to ``new`` (its batch handled); False when it is no
    longer at ``old`` (another instance pulled on, its lease taken after ours ran out)."""
    async with ctx.db.transaction() as session:
        moved = await session.exec(
            update(_CURSORS)
            .where(_CURSORS.c.source == source_of(open_kfid), _CURSORS.c.cursor == old)
            .values(cursor=new, updated_at=ctx.clock())
        )
        return _rowcount(moved) == 1


async def streams(ctx: ServiceContext) -> list[str]:
    """The accounts whose streams were pulled before (pulled again at start)."""
    source = col(InboundCursor.source)
    query = select(InboundCursor.source).where(source.startswith(PREFIX, autoescape=True))
    async with ctx.db.reading() as session:
        return [found[len(PREFIX) :] for found in (await session.exec(query)).all()]


def _rowcount(result: Any) -> int:
    """The rows an UPDATE matched."""
    return result.rowcount if isinstance(result, CursorResult) else 0
