"""One step of a case as an update the extension's clients read (FixMyStreet's
``Open311::GetServiceRequestUpdates``): its fields in order, and the JSON and XML documents of a
list of them (``<service_request_updates><request_update>…``). The same for an update a key
reads and one pushed to a city's endpoint."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from bot.services.cases.photos import event_photos
from bot.services.cases.updates import update_status
from core.cases import EventKind
from core.texts import render as say
from db.models import Case, CaseEvent

from ..describe import Context, iso
from ..formats import to_xml

ROOT = "service_request_updates"
MEDIA = "/open311/v2/requests/{number}/media/{position}"
# The steps that may bring photos of the fix: their first photo is the update's media_url.
WITH_MEDIA = frozenset({EventKind.RESOLVED.value, EventKind.FIX_PHOTO.value})


def media_path(number: int, position: int) -> str:
    """Where photo ``position`` of case ``number`` is served to a key for its community."""
    return MEDIA.format(number=number, position=position)


def update_fields(
    event: CaseEvent, case: Case, at: Context, *, base_url: str
) -> dict[str, Any] | None:
    """The update ``event`` of ``case`` is to a city, in the extension's order, described for
    ``at`` (``base_url``: the public root its media URL starts with); None when the step is no
    update (``bot.services.cases.updates``)."""
    status = update_status(event.kind, event.data)
    if status is None:
        return None
    assert event.id is not None
    assert case.number is not None
    photos = event_photos(event) if event.kind in WITH_MEDIA else ()
    media = base_url.rstrip("/") + media_path(case.number, photos[0]) if photos else ""
    return {
        "update_id": str(event.id),
        "service_request_id": str(case.number),
        "status": status.value,
        "updated_datetime": iso(event.at, at.tz),
        "description": described(event, at.language),
        "media_url": media,
        "external_status_code": event.kind,
    }


def described(event: CaseEvent, language: str) -> str:
    """The step in words, as ``status_notes`` says it: its name, a rating with it, the case a
    duplicate went into. Never a note, which may carry a name or a number."""
    step = say(language, f"event.{event.kind}")
    data = event.data or {}
    if event.kind == EventKind.MERGED.value and data.get("into"):
        return say(language, "open311.notes_merged", original=data["into"])
    if event.kind == EventKind.RATED.value and data.get("rating"):
        rating = say(language, f"rating.{data['rating']}")
        return say(language, "open311.notes_rated", step=step, rating=rating)
    return step


def as_json(updates: Sequence[dict[str, Any]]) -> str:
    """A list of updates as the extension's JSON: an array of them."""
    return json.dumps(list(updates), ensure_ascii=False)


def as_xml(updates: Sequence[dict[str, Any]]) -> str:
    """A list of updates as the extension's XML, with its declaration."""
    return '<?xml version="1.0" encoding="utf-8"?>\n' + to_xml(ROOT, updates)
