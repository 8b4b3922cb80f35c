"""The crowd in the digest: how many open cases residents follow and how many follow them, and
how many duplicates staff merged in the past day — a line or two, short enough for an SMS."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.cases import EventKind
from core.texts import render
from db.models import Case, CaseEvent


@dataclass(frozen=True, slots=True)
class Crowd:
    """Open cases with followers, the residents following them, duplicates merged lately."""

    cases: int = 0
    people: int = 0
    merged: int = 0

    def lines(self, language: str) -> list[str]:
        """The digest's lines about the crowd: none when there is nothing to say."""
        found = []
        if self.cases:
            found.append(render(language, "digest.followed", cases=self.cases, people=self.people))
        if self.merged:
            found.append(render(language, "digest.merged", count=self.merged))
        return found


async def crowd(
    session: AsyncSession, communities: Sequence[str], open_cases: Sequence[Case], since: datetime
) -> Crowd:
    """The crowd of ``communities``: ``open_cases`` (theirs, already read) by their follower
    counts, and the merges since ``since`` that still stand (an undone one is no duplicate)."""
    followed = [c.followers for c in open_cases if c.followers > 0]
    # Distinct cases: one merged, taken back and merged again is one duplicate.
    query = (
        select(func.count(func.distinct(col(CaseEvent.case_number))))
        .select_from(CaseEvent)
        .join(Case, col(Case.number) == col(CaseEvent.case_number))
        .where(
            col(CaseEvent.kind) == EventKind.MERGED.value,
            col(CaseEvent.at) > since,
            col(Case.community_id).in_(list(communities)),
            col(Case.duplicate_of).is_not(None),
        )
    )
    merged = int((await session.exec(query)).one())
    return Crowd(cases=len(followed), people=sum(followed), merged=merged)
