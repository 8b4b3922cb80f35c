"""A person's follows of other residents' cases, for their data on request: what an export lists,
and what an erase removes (the follows, and the photos they added to those cases)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import tzinfo
from typing import Any

from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.cases import EventKind
from db.models import Case, CaseEvent, CaseFollower, CasePhoto


async def exported(session: AsyncSession, ids: Sequence[str], tz: tzinfo) -> list[dict[str, Any]]:
    """The cases ``ids`` follow: which, since when, by which channel, their feedback."""
    rows = await session.exec(
        select(CaseFollower)
        .where(col(CaseFollower.person_id).in_(ids))
        .order_by(col(CaseFollower.case_number))
    )
    return [
        {
            "case": row.case_number,
            "since": row.since.astimezone(tz).isoformat(),
            "channel": row.channel,
            "via_case": row.via_case,
            "rating": row.rating,
        }
        for row in rows.all()
    ]


async def erase(session: AsyncSession, ids: Sequence[str]) -> int:
    """Remove the follows of ``ids`` (each case's count goes down with them) and the photos they
    added as followers; how many follows went. Their notes are in the events, which the erase's
    record rewrite scrubs like every other event they made."""
    rows = list(
        (await session.exec(select(CaseFollower).where(col(CaseFollower.person_id).in_(ids)))).all()
    )
    for row in rows:
        case = await session.get(Case, row.case_number, with_for_update=True)
        if case is not None:
            case.followers = max(case.followers - 1, 0)
            session.add(case)
        await session.delete(row)
    added = await session.exec(
        select(CaseEvent.case_number, CaseEvent.data).where(
            col(CaseEvent.actor_id).in_(ids), CaseEvent.kind == EventKind.COMMENTED.value
        )
    )
    for number, data in added.all():
        position = (data or {}).get("photo")
        if isinstance(position, int):
            await session.exec(
                delete(CasePhoto).where(
                    col(CasePhoto.case_number) == number, col(CasePhoto.position) == position
                )
            )
    return len(rows)
