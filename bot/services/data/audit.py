"""The audit of requests about a person's data: who asked for an export or an erase, when, and
which person — by the opaque id an erase gave them, or a hash of their id, never the data."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from sqlmodel import col, update

from bot.services.unit.context import Actor, Unit
from db.models.audit import DataAudit


def ref(person_id: str) -> str:
    """How an audit row names a person still held: a hash of their id (an id met on a channel
    embeds their phone or chat id). An erase replaces it with their new id."""
    return "sha256:" + hashlib.sha256(person_id.encode()).hexdigest()[:32]


async def record(
    unit: Unit,
    *,
    kind: str,
    person: str,
    actor: Actor,
    detail: Mapping[str, int] | None = None,
) -> DataAudit:
    """Add the audit row of one request (``person``: an erased id or ``ref``), in ``unit``."""
    row = DataAudit(
        at=unit.now,
        kind=kind,
        person=person,
        actor_id=actor.person_id,
        actor_channel=actor.channel,
        detail=dict(detail or {}),
    )
    unit.session.add(row)
    await unit.session.flush()
    return row


async def renamed(unit: Unit, old_ids: Iterable[str], new_id: str) -> None:
    """Earlier rows about a person erased now (by the hash of an id, or as the one who asked)
    name them by ``new_id``: no hash of an id that embeds an address outlives the erase."""
    old = sorted(set(old_ids))
    hashes = [ref(i) for i in old]
    session = unit.session
    await session.exec(
        update(DataAudit).where(col(DataAudit.person).in_(hashes)).values(person=new_id)
    )
    await session.exec(
        update(DataAudit).where(col(DataAudit.actor_id).in_(old)).values(actor_id=new_id)
    )
