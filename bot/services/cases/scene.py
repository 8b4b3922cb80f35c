"""What an announcement may mention about a case: its scene (the case, its place and kind, the
time zone), its state for the transition table, and texts in every language."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.cases.routing import Policy
from core.cases import CaseState, EventKind, Rating, Status
from core.texts import LANGUAGES, render
from db import queries
from db.models import Case, CaseEvent, Category, Community


def both(key: str, **params: Any) -> dict[str, str]:
    """A catalog text in every language, as a localizable parameter."""
    return {language: render(language, key, **params) for language in LANGUAGES}


def state_of(case: Case) -> CaseState:
    """The transition-relevant facts of a case row."""
    return CaseState(
        status=Status(case.status),
        escalation_level=case.escalation_level,
        reopen_count=case.reopen_count,
        rating=Rating(case.rating) if case.rating else None,
        manager_id=case.manager_id,
        acknowledged=case.acknowledged_at is not None,
    )


@dataclass(frozen=True, slots=True)
class Scene:
    """What an announcement may mention: the case, its place and kind, and the time zone."""

    case: Case
    community: Community | None
    category: Category | None
    tz: tzinfo
    chain: tuple[str, ...]
    urgent: bool
    photos: int = 0  # how many photos the case has (its cards say so, and carry them)

    def params(self, event: CaseEvent) -> dict[str, Any]:
        """Message parameters; names in both languages so each recipient reads their own."""
        case = self.case
        local = "%Y-%m-%d %H:%M"
        params: dict[str, Any] = {
            "number": case.number,
            "community": _names(self.community, case.community_id),
            "category": _names(self.category, case.category_id),
            "location": case.location or "-",
            "description": case.description,
            "note": event.note or "-",
            "ack_due": case.ack_due_at.astimezone(self.tz).strftime(local),
            "resolve_due": case.resolve_due_at.astimezone(self.tz).strftime(local),
            "status": both(f"status.{case.status}"),
            "level": both(f"role.{self._level_role()}"),
            "original": case.duplicate_of or "-",
            "reason": self._reason(event),
            "photos": both("case.photos", count=self.photos) if self.photos else "",
            # how many residents it concerns: its reporter and its followers
            "concerns": case.followers + 1,
            "merged_from": event.data.get("from", "-") if event.data else "-",
        }
        if case.rating:
            params["rating"] = both(f"rating.{case.rating}")
        given = event.data.get("rating") if event.data else None
        if event.kind == EventKind.FEEDBACK.value and given:
            params["rating"] = both(f"rating.{given}")  # the follower's, not the reporter's
        return params

    def _reason(self, event: CaseEvent) -> dict[str, str]:
        """Why a case was rejected: the note, and for a duplicate its original, in each language."""
        reasons = {language: event.note for language in LANGUAGES}
        if self.case.duplicate_of is not None:
            original = self.case.duplicate_of
            for language in LANGUAGES:
                said = render(language, "case.duplicate_reason", original=original)
                reasons[language] = f"{said}. {event.note}" if event.note else said
        return {k: v or "-" for k, v in reasons.items()}

    def _level_role(self) -> str:
        index = min(self.case.escalation_level, len(self.chain) - 1)
        return self.chain[index] if self.chain else "manager"


async def scene_of(session: AsyncSession, case: Case, policy: Policy) -> Scene:
    """Gather what announcements mention about a case."""
    return Scene(
        case=case,
        community=await queries.get_community(session=session, community_id=case.community_id),
        category=await queries.get_category(session=session, category_id=case.category_id),
        tz=policy.tz,
        chain=policy.chain,
        urgent=policy.levels.urgent,
    )


def _names(row: Community | Category | None, fallback: str) -> dict[str, str]:
    if row is None:
        return {"zh": fallback, "en": fallback}
    return {"zh": row.name_zh, "en": row.name_en}
