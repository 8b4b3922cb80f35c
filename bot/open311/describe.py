"""A case as a GeoReport v2 service request: open or closed, its latest step in words, who holds
it (a role and the community, never a person), its times in the directory's zone with offset,
its id as text. No phone number or name is ever served: the resident's and the manager's names,
and anything in the text that reads like a phone number, are masked. A reader who may not see it
whole sees what is safe to publish (``published``)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from core.cases import EventKind, Status
from core.texts import render as say
from db.models import Case, Category, Community, Open311Request

# Events that are no step of the case: a reminder or a nudge changes nothing a client follows,
# nor does a resident following it (their note, their feedback) or a duplicate merged into it,
# and a staff member's internal note is not for the public at all.
NOT_STEPS = frozenset(
    kind.value
    for kind in (
        EventKind.REMINDED,
        EventKind.NUDGED,
        EventKind.NOTE,
        EventKind.FOLLOWED,
        EventKind.FEEDBACK,
        EventKind.COMMENTED,
        EventKind.MERGED_IN,
        EventKind.MERGE_UNDONE,
    )
)
# Seven digits or more, spaces or dashes between them: a phone number, masked wherever it is.
# What a reader without a key for the request's community is not served: what the resident wrote,
# where, and the photo (its id, status, service, times, status notes and agency are public).
WITHHELD = frozenset(
    ("description", "service_notice", "address", "address_id", "lat", "long", "media_url")
)
PHONE_LIKE = re.compile(r"\+?\d(?:[ \-]?\d){6,}")
MASK = "***"


@dataclass(frozen=True, slots=True)
class Context:
    """What describing cases needs besides the cases: the language, the zone, the directory's
    names and escalation chain."""

    language: str
    tz: tzinfo
    communities: dict[str, Community]
    categories: dict[str, Category]
    chain: tuple[str, ...]


def name_of(row: Community | Category | None, language: str, fallback: str) -> str:
    """A community's or category's name in ``language`` (Chinese unless English is asked)."""
    if row is None:
        return fallback
    return row.name_en if language == "en" and row.name_en else row.name_zh


def iso(value: datetime | None, tz: tzinfo) -> str | None:
    """ISO 8601 (W3C subset) in the directory's zone, with its offset."""
    return value.astimezone(tz).isoformat(timespec="seconds") if value is not None else None


def masked(text: str, names: Iterable[str]) -> str:
    """``text`` with phone-like digits and the given names replaced by ``***``."""
    text = PHONE_LIKE.sub(MASK, text)
    # A name as written whole, without its spaces, and each part of it long enough to tell.
    variants = {v for n in names for v in (n, n.replace(" ", ""), *n.split()) if len(v) >= 2}
    for name in sorted(variants, key=len, reverse=True):
        text = text.replace(name, MASK)
    return text


def holder_role(case: Case, chain: tuple[str, ...]) -> str:
    """The role holding the case: staff while unassigned, else the chain's level it is at."""
    if case.manager_id is None:
        return "staff"
    if not chain:
        return "manager"
    return chain[min(case.escalation_level, len(chain) - 1)]


def notice(case: Case, at: Context) -> str:
    """What is expected to happen: who it was sent to and the resolve deadline."""
    community = name_of(at.communities.get(case.community_id), at.language, case.community_id)
    role = say(at.language, f"role.{holder_role(case, at.chain)}")
    due = case.resolve_due_at.astimezone(at.tz).strftime("%Y-%m-%d %H:%M")
    key = "open311.notice" if case.manager_id else "open311.notice_unrouted"
    return say(at.language, key, community=community, role=role, resolve_due=due)


def status_notes(case: Case, last_step: str | None, language: str) -> str | None:
    """The latest step in words, and the rating once rated; a merged duplicate names the case
    that carries its problem on."""
    if case.duplicate_of is not None and case.status == Status.REJECTED.value:
        return say(language, "open311.notes_merged", original=case.duplicate_of)
    if last_step is None:
        return None
    step = say(language, f"event.{last_step}")
    if case.rating:
        rating = say(language, f"rating.{case.rating}")
        return say(language, "open311.notes_rated", step=step, rating=rating)
    return step


def service_request(
    case: Case,
    at: Context,
    *,
    extra: Open311Request | None,
    last_step: str | None,
    names: Iterable[str] = (),
) -> dict[str, Any]:
    """The GeoReport v2 fields of one case, in the spec's order."""
    assert case.number is not None
    names = list(names)
    community = name_of(at.communities.get(case.community_id), at.language, case.community_id)
    role = say(at.language, f"role.{holder_role(case, at.chain)}")
    closed = not Status(case.status).is_open
    updated = (case.closed_at or case.updated_at) if closed else case.updated_at
    return {
        "service_request_id": str(case.number),  # a string, as the spec types it
        "status": "closed" if closed else "open",
        "status_notes": status_notes(case, last_step, at.language),
        "service_name": name_of(at.categories.get(case.category_id), at.language, case.category_id),
        "service_code": case.category_id,
        "description": masked(case.description, names),
        "agency_responsible": say(at.language, "open311.agency", role=role, community=community),
        "service_notice": notice(case, at),
        "requested_datetime": iso(case.created_at, at.tz),
        "updated_datetime": iso(updated, at.tz),
        "expected_datetime": iso(case.resolve_due_at, at.tz),
        "address": masked(case.location, names) or None,
        "address_id": extra.address_id if extra else None,
        "zipcode": None,
        "lat": extra.lat if extra else None,
        "long": extra.long if extra else None,
        "media_url": extra.media_url if extra else None,
    }


def published(request: dict[str, Any]) -> dict[str, Any]:
    """``request`` as anyone may read it: every field still there, the ``WITHHELD`` ones empty."""
    return {name: None if name in WITHHELD else value for name, value in request.items()}
