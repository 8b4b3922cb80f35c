"""Conversations kept in the database: the guided report — offered, once its place is known, the
open cases like it to follow instead — and a follower's notes and photos after (the one-message
questions some buttons ask are in ``questions``). A restart mid-way resumes where the person was,
and any instance can take the next message.

Each step is one transaction: the draft's new state, the next question in the outbox, and — when
the conversation ends — the case change itself, together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, replace
from typing import Any

from sqlmodel import col, select

from bot.services.cases.following import Suggestion, follow_in, suggestions
from bot.services.cases.photos import NewPhoto
from bot.services.cases.report import NewReport, open_case
from bot.services.talk import drafts
from bot.services.unit.context import ServiceContext, ServiceRefusal, Unit
from bot.services.unit.inbound import Inbound
from bot.services.unit.reach import language_of
from bot.services.unit.work import unit_of_work
from core import report_flow as flow
from core.buttons import Button
from core.clean import cap
from core.places import building_in
from db import queries
from db.directory_cache import directory
from db.models import Case, Category, Community, Draft, Person

REPORT_FLOW = "report"  # a draft row's flow while a guided report is in progress
NOTE_FLOW = "follow_note"  # a draft row's flow while a new follower may add a note or photo

# ---- the guided report ------------------------------------------------------------------------


async def begin_report(ctx: ServiceContext, inbound: Inbound) -> None:
    """Start (or restart) a guided report and ask the first question."""
    async with unit_of_work(ctx, inbound) as unit:
        person = unit.active_sender()
        channel = inbound.channel
        snapshot = await directory(unit.session)
        categories = tuple(c.id for c in snapshot.active_categories())
        communities = tuple(c.id for c in snapshot.active_communities())
        known = person.community_id if person.community_id in communities else None
        options = flow.Options(categories, communities, known_community=known)
        draft = flow.start(options)
        await _ask(unit, person, channel, draft, options)


async def _store(
    unit: Unit,
    person_id: str,
    channel: str,
    draft: flow.Draft,
    options: flow.Options,
    buttons: list[list[Button]],
) -> Draft:
    fields = asdict(draft)
    fields["step"] = draft.step.value
    fields["photos"] = list(draft.photos)
    fields["offered"] = list(draft.offered)
    data = {
        "draft": fields,
        "categories": list(options.categories),
        "communities": list(options.communities),
        "known": options.known_community,
    }
    return await drafts.keep(
        unit,
        channel=channel,
        person_id=person_id,
        flow=REPORT_FLOW,
        step=draft.step.value,
        data=data,
        buttons=buttons,
    )


async def _options(unit: Unit, row: Draft) -> tuple[flow.Draft, flow.Options]:
    draft, options = stored(row.data)
    return draft, await _with_buildings(unit, draft, options)


def stored(data: dict[str, Any]) -> tuple[flow.Draft, flow.Options]:
    """A guided report's draft and options as ``_store`` kept them (no I/O: the confirm press's
    hot path reads them too; the location step's buildings are not among them)."""
    fields = dict(data["draft"])
    draft = flow.Draft(
        step=flow.Step(fields["step"]),
        category=fields["category"],
        community=fields["community"],
        location=fields["location"],
        description=fields["description"],
        photos=tuple(fields["photos"]),
        offered=tuple(fields.get("offered", ())),  # a draft kept before there were offers
    )
    options = flow.Options(
        tuple(data["categories"]), tuple(data["communities"]), known_community=data["known"]
    )
    return draft, options


def submitted(draft: flow.Draft, channel: str) -> NewReport:
    """What a submitted guided report files (``open_case``'s, or the hot path's, report)."""
    return NewReport(
        community_id=draft.community or "",
        category_id=draft.category or "",
        description=draft.description,
        location=draft.location,
        # A draft's photos are the channel's own references (Telegram file ids).
        photos=tuple(NewPhoto(source=channel, file_id=ref) for ref in draft.photos),
    )


async def _with_buildings(unit: Unit, draft: flow.Draft, options: flow.Options) -> flow.Options:
    """The options with the buildings of the draft's community (a choice at the location step)."""
    buildings: tuple[str, ...] = ()
    if draft.community:
        community = await queries.get_community(session=unit.session, community_id=draft.community)
        buildings = tuple(community.buildings) if community else ()
    return replace(options, buildings=buildings)


async def _names(unit: Unit, model: type[Category] | type[Community], ids: Any) -> list[Any]:
    snapshot = await directory(unit.session)
    rows = snapshot.categories if model is Category else snapshot.communities
    return [rows[i] for i in ids if i in rows]


async def _ask(
    unit: Unit,
    person: Person,
    channel: str,
    draft: flow.Draft,
    options: flow.Options,
    *,
    reask: bool = False,
    offered: Sequence[Suggestion] = (),
) -> None:
    """Keep the draft and queue the question of its step, with its buttons (the open cases
    offered: as just found, else read again)."""
    language = language_of(person, unit.default_language)
    step = draft.step.value
    choices: list[str] = []
    per_row = 2
    params: dict[str, Any] = {}
    extra: list[tuple[str, str]] = []
    match draft.step:
        case flow.Step.CATEGORY:
            template = "flow.ask_category"
            rows = await _names(unit, Category, options.categories)
            choices = [r.name_en if language == "en" else r.name_zh for r in rows]
        case flow.Step.COMMUNITY:
            template = "flow.ask_community"
            rows = await _names(unit, Community, options.communities)
            choices = [r.name_en if language == "en" else r.name_zh for r in rows]
        case flow.Step.LOCATION:
            template = "flow.ask_location_buildings" if options.buildings else "flow.ask_location"
            choices = list(options.buildings)
        case flow.Step.SUGGEST:
            template, per_row = "follow.ask", 1  # a case's label fills a row
            shown = offered or await _offered(unit, draft.offered)
            choices = [s.label(language, unit.now) for s in shown]
            extra = [("button.follow.new", f"{drafts.PREFIX}{step}:new")]
        case flow.Step.DESCRIPTION:
            template = "flow.ask_description"
        case flow.Step.PHOTOS:
            template = "flow.photo_added" if draft.photos else "flow.ask_photos"
            params = {"count": len(draft.photos)}
            done = "button.flow.photos_done" if draft.photos else "button.flow.skip"
            extra = [(done, f"{drafts.PREFIX}{step}:skip")]
        case flow.Step.CONFIRM:
            template = "flow.confirm"
            params = await _summary(unit, draft, language)
            extra = [("button.flow.confirm", drafts.CONFIRM)]
    buttons = drafts.choices(step, choices, per_row=per_row)
    buttons.append(
        [Button(label, data) for label, data in extra]
        + [Button("button.flow.abandon", f"{drafts.PREFIX}{step}:x")]
    )
    await _store(unit, person.id, channel, draft, options, buttons)
    await unit.outbox.tell(
        person, template, key=unit.key("flow"), params=params, buttons=buttons, reask=reask
    )


async def _summary(unit: Unit, draft: flow.Draft, language: str) -> dict[str, Any]:
    category = await queries.get_category(session=unit.session, category_id=draft.category or "")
    community = await queries.get_community(
        session=unit.session, community_id=draft.community or ""
    )
    english = language == "en"
    return {
        "category": (category.name_en if english else category.name_zh) if category else "-",
        "community": (community.name_en if english else community.name_zh) if community else "-",
        "location": draft.location or "-",
        "description": cap(draft.description)[0],  # as the case will hold it
        "photos": len(draft.photos),
    }


async def report_step(
    unit: Unit, person: Person, row: Draft, channel: str, given: flow.Input
) -> None:
    """One answer to the guided report: the next question, the case filed, or a case followed."""
    draft, options = await _options(unit, row)
    outcome = flow.advance(draft, options, given)
    if outcome.draft is None:
        await unit.session.delete(row)
        await unit.outbox.tell(person, "flow.abandoned", key=unit.key("flow"))
        return
    if outcome.submitted:
        new = submitted(outcome.draft, channel)
        await open_case(unit, resident_id=person.id, channel=channel, new=new)
        await unit.session.delete(row)
        return
    if outcome.follow is not None:
        if await _follow(unit, person, channel, outcome.follow):
            return
        outcome = flow.advance(draft, options, flow.Signal.NEW)  # told why: a new report, then
    assert outcome.draft is not None
    after, found = outcome.draft, []
    if flow.placed(draft, outcome):
        found = await _suggested(unit, person, after, options)
        after = flow.offer(after, tuple(s.number for s in found))
    options = flow.Options(options.categories, options.communities)
    options = await _with_buildings(unit, after, options)
    await _ask(unit, person, channel, after, options, reask=outcome.reask, offered=found)


# ---- open cases like it, and following one ---------------------------------------------------


async def _suggested(
    unit: Unit, person: Person, draft: flow.Draft, options: flow.Options
) -> list[Suggestion]:
    """The open cases the report may be the same problem as: one indexed query."""
    return await suggestions(
        unit.session,
        community_id=draft.community or "",
        category_id=draft.category or "",
        building=building_in(draft.location, options.buildings),
        now=unit.now,
        exclude_resident=person.id,
        limit=flow.MAX_OFFERED,
    )


async def _offered(unit: Unit, numbers: Sequence[int]) -> list[Suggestion]:
    """The cases a draft offered, as they stand now, in the draft's order (a question asked
    again, or after a restart)."""
    query = select(Case).where(col(Case.number).in_(list(numbers)))
    cases = {c.number: c for c in (await unit.session.exec(query)).all()}
    return [
        Suggestion(n, c.location, c.building, c.status, c.created_at, c.followers)
        if (c := cases.get(n)) is not None
        else Suggestion(n, "", "", "closed", unit.now, 0)  # gone: pressing it says so
        for n in numbers
    ]


async def _follow(unit: Unit, person: Person, channel: str, number: int) -> bool:
    """Follow case ``number`` instead of reporting it again and offer to add a note; False, the
    person told why, when it cannot be followed (it closed meanwhile) — nothing is lost."""
    try:
        async with unit.session.begin_nested():
            await follow_in(unit, person=person, number=number, channel=channel)
    except ServiceRefusal as refusal:
        unit.outbox.rolled_back()
        await unit.session.refresh(person)
        params = refusal.params
        await unit.outbox.tell(person, refusal.reason, key=unit.key("follow"), params=params)
        return False
    await ask_note(unit, person, channel, number)
    return True


async def ask_note(
    unit: Unit, person: Person, channel: str, number: int, *, reask: bool = False
) -> None:
    """The report's draft becomes the follow's: a note or a photo may follow, until "done"
    (``waiting.note_step`` takes them)."""
    buttons = [[Button("button.follow.done", f"{drafts.PREFIX}{NOTE_FLOW}:done")]]
    data = {"number": number}
    await drafts.keep(
        unit,
        channel=channel,
        person_id=person.id,
        flow=NOTE_FLOW,
        step=NOTE_FLOW,
        data=data,
        buttons=buttons,
    )
    await unit.outbox.tell(
        person, "follow.add_note", key=unit.key("flow"), params=data, buttons=buttons, reask=reask
    )
