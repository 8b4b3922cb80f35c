"""The follow question's own parts: the open cases a one-message report is offered before a case
is opened (one indexed query), its numbered choices short enough for two SMS segments, and what
its answer does — follow the case picked with the report's words as a note, or open a new case
(docs/reference.md §4). ``questions`` asks it and hands its answers here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from bot.services.cases import following
from bot.services.cases.following import MAX_NOTE, Suggestion
from bot.services.cases.report import NewReport, open_case
from bot.services.unit.context import ServiceRefusal, Unit
from core.clean import MAX_DESCRIPTION, cap, clean
from core.places import building_in
from core.sms import segments
from core.sms_text import ROUTINE_SEGMENTS
from core.texts import render
from db.directory_cache import directory
from db.models import Person

FLOW = "follow"
# How long a place may be in a short SMS choice, tried in turn until the question fits.
_PLACES = (24, 12, 6)


@dataclass(frozen=True, slots=True)
class Offer:
    """The cases a question offers, their button labels and, on a plain-text channel, its
    numbered lines."""

    cases: list[Suggestion]
    labels: list[str]
    lines: str | None


async def offered(unit: Unit, person: Person, new: NewReport) -> list[Suggestion]:
    """The open cases ``new`` may be the same problem as, newest first: same community and
    category, the same building where the text names one, within the category's window."""
    if new.photos or new.photos_refused:
        # Photos cannot wait in a question (a draft keeps text): such a report opens its case.
        return []
    community = (await directory(unit.session)).communities.get(new.community_id)
    if community is None:
        return []
    return await following.suggestions(
        unit.session,
        community_id=community.id,
        category_id=new.category_id,
        building=building_in(new.description, community.buildings),
        now=unit.now,
        exclude_resident=person.id,
    )


def offer(found: Sequence[Suggestion], language: str, now: datetime, *, plain: bool) -> Offer:
    """What the question shows: every case with its full label as a button; numbered, the most
    that fit two SMS segments with "new" still last — full labels, else ``#12 · place · status``
    with the place cut shorter, else fewer cases (the newest kept)."""
    if not plain:
        return Offer(list(found), [s.label(language, now) for s in found], None)
    tried: Offer | None = None
    for count in range(len(found), 0, -1):
        cases = list(found[:count])
        tries = [[s.label(language, now) for s in cases]]
        tries += [[_short(s, language, most) for s in cases] for most in _PLACES]
        for labels in tries:
            lines = "\n".join(
                render(language, "follow.numbered_choice", index=i, label=label)
                for i, label in enumerate(labels, 1)
            )
            tried = Offer(cases, labels, lines)
            asked = render(language, "follow.ask_numbered", choices=lines, new=count + 1)
            if segments(asked) <= ROUTINE_SEGMENTS:
                return tried
    if tried is None:
        raise ValueError("no case to offer")
    return tried  # the shortest there is: one case, its place cut short


def _short(found: Suggestion, language: str, most: int) -> str:
    """``#12 · 172号楼 · 处理中``: the SMS choice without its age and count."""
    place = found.location or render(language, "follow.no_place")
    place = place[:most].rstrip()  # no "…": in English it alone would make the text UCS-2
    status = render(language, f"status.{found.status}")
    return render(language, "follow.choice_short", number=found.number, place=place, status=status)


def kept(new: NewReport, cases: Sequence[Suggestion]) -> dict[str, Any]:
    """What the question's draft keeps: the report, and the cases offered (then "new")."""
    numbers = [s.number for s in cases]
    return {
        "text": new.description,
        "community": new.community_id,
        "category": new.category_id,
        "cases": numbers,
        "new": len(numbers) + 1,
    }


async def answered(
    unit: Unit, person: Person, data: dict[str, Any], index: int, words: str
) -> NewReport | None:
    """The answer to the question ``data`` kept: a case picked is followed, its holder hearing
    the report as the follower's note; "new" opens the case from it. Anything else returns the
    report to be asked about again (None when the answer was acted on)."""
    report = NewReport(str(data["community"]), str(data["category"]), str(data["text"]))
    cases: list[int] = data["cases"]
    if 0 <= index < len(cases):
        await follow(unit, person, cases[index], report.description)
        return None
    if index == len(cases):
        await open_case(unit, resident_id=person.id, channel=unit.actor().channel, new=report)
        return None
    # Words, not a choice: nothing is filed on words that may have been meant as an answer
    # ("是的", "就是这个"), so the question is asked again. SMS residents often finish a thought
    # in a second text, so the words join the report (its note, or its case): nothing is lost.
    more = cap(clean(f"{report.description}\n{words}"), MAX_DESCRIPTION)[0]
    return replace(report, description=more) if words else report


async def follow(unit: Unit, person: Person, number: int, words: str) -> None:
    """``person`` follows case ``number``, their words its holder's note; one who follows it
    already (it was offered again) adds their words to it instead."""
    channel = unit.actor().channel
    note = cap(clean(words), MAX_NOTE)[0]
    try:
        await following.follow_in(unit, person=person, number=number, channel=channel, note=note)
    except ServiceRefusal as refused:
        if refused.reason != "refused.follow_again":
            raise  # nothing written yet: the question still waits, "new" still answers it
        await following.comment_in(unit, person=person, number=number, channel=channel, note=note)
