"""The "已办好" question's own parts: after the press, the manager is offered the category's resolve
replies (docs/reference.md §3), "no note", a note in their own words, or a photo of the fix (its
caption the note); the one picked goes to the resident, in the resident's language, with the
rating question. A category without resolve replies is resolved at the press, as before.
``questions`` asks it and hands its answers here. After a photo, the next few minutes' photos
(an album's others) join the fix (``FIX_FLOW``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from bot.services.cases import fixing
from bot.services.cases.lifecycle import Request, act_in
from bot.services.cases.photos import NewPhoto
from bot.services.staff import replies
from bot.services.talk import drafts
from bot.services.talk.asking import RESOLVE_NOTE, ask
from bot.services.unit.context import Unit
from bot.services.unit.reach import language_of
from core.buttons import Button
from core.cases import Action
from db import queries
from db.models import Case, Draft, Person

FLOW = RESOLVE_NOTE
FIX_FLOW = "fix_photos"  # more photos of a fix just sent: they join it
MORE_WITHIN = timedelta(minutes=10)  # an album's photos arrive together; later ones are news
_LABEL = 28  # characters of a reply on its button; the question lists each in full


def _label(position: int, text: str) -> str:
    label = f"{position}. {text}"
    return label if len(label) <= _LABEL else f"{label[: _LABEL - 1]}…"


async def ask_or_resolve(unit: Unit, person: Person, case: Case) -> None:
    """Offer the category's resolve replies to ``person``, who pressed "已办好" (checked allowed);
    with none, resolve the case now."""
    number = case.number
    assert number is not None
    found = await replies.kept(unit.session, category_id=case.category_id, action="resolve")
    if not found:
        await act_in(unit, number=number, actor=unit.actor(), request=Request(Action.RESOLVE))
        return
    shown = [reply.text(language_of(person, unit.default_language)) for reply in found]
    lines = "\n".join(f"{i}. {text}" for i, text in enumerate(shown, 1))
    # The replies themselves wait with the question: its answer sends what was shown, whatever
    # the directory says by then.
    data = {"number": number, "replies": [r.model_dump() for r in found], "lines": lines}
    skip = Button("button.flow.no_note", f"{drafts.PREFIX}{FLOW}:skip")
    labels = [_label(i, text) for i, text in enumerate(shown, 1)]
    await ask(unit, person, FLOW, data, labels=labels, extra=[skip], numbered=lines, per_row=1)


async def keep_taking(unit: Unit, person: Person, number: int) -> None:
    """Photos ``person`` sends next, for a while, join case ``number``'s fix."""
    assert unit.inbound is not None
    channel, data = unit.inbound.channel, {"number": number}
    await drafts.keep(
        unit, channel=channel, person_id=person.id, flow=FIX_FLOW, step=FIX_FLOW, data=data
    )


async def photo_about(
    unit: Unit, person: Person, number: int, photo: str, caption: str | None
) -> bool:
    """A photo sent as a reply to case ``number``'s card: its fix, from whoever holds it (then
    more photos join it for a while); False when it is not theirs to resolve."""
    assert unit.inbound is not None
    new = NewPhoto(source=unit.inbound.channel, file_id=photo)
    if not await fixing.photo_in(unit, person, number, new, caption or ""):
        return False
    await keep_taking(unit, person, number)
    return True


async def more(unit: Unit, person: Person, row: Draft, photo: str | None, caption: str) -> bool:
    """A message while photos join a fix: a photo joins it; anything else (or a photo once the
    while is over, or the case moved on) ends it and is not taken (False)."""
    number = int(row.data["number"])
    fresh = unit.now - row.updated_at <= MORE_WITHIN
    if photo is None or not fresh or not await fixing.may_add(unit.session, person, number):
        await unit.session.delete(row)
        return False
    case = await queries.get_case(session=unit.session, number=number, lock=True)
    assert case is not None
    assert unit.inbound is not None
    new = NewPhoto(source=unit.inbound.channel, file_id=photo)
    await fixing.more_in(unit, person, case, new, caption)
    row.updated_at = unit.now
    unit.session.add(row)
    return True


async def note_of(unit: Unit, data: Mapping[str, Any], index: int, typed: str) -> str:
    """The resolve note an answer gives: the reply at ``index`` in the resident's language, else
    the manager's own words (none for "no note")."""
    kept: list[dict[str, str]] = list(data.get("replies", []))
    if not 0 <= index < len(kept):
        return typed
    case = await queries.get_case(session=unit.session, number=int(data["number"]))
    if case is None:  # gone: the action that follows says so
        return typed
    language = await replies.resident_language(unit.session, case, unit.default_language)
    return replies.as_sent(kept[index], language)
