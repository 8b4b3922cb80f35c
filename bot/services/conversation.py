"""Conversations kept in the database: the guided report, and the one-message questions that some
buttons ask (why not satisfied, why rejected or closed, to whom to reassign). A restart mid-way
resumes where the person was, and any instance can take the next message.

Each step is one transaction: the draft's new state, the next question in the outbox, and — when
the conversation ends — the case change itself, together.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import asdict
from typing import Any

from sqlmodel import col, select

from core import report_flow as flow
from core.cases import Action, Channel, Rating, Refusal, apply
from db import queries
from db.directory_cache import directory
from db.models import Category, Community, Draft, Person

from . import drafts
from .announce import both, state_of
from .context import Actor, Inbound, ServiceContext, ServiceRefusal, Unit, unit_of_work
from .lifecycle import Request, act_in
from .notify import Outbox, language_of
from .parties import load_parties
from .report import NewReport, open_case

PREFIX = "r:"
_ASKING = {Action.RATE: "rate_reason", Action.REJECT: "reject_reason", Action.CLOSE: "close_reason"}
_DUPLICATE = re.compile(r"#?\s*(\d{1,12})")


def parse_choice(data: str) -> tuple[str, str] | None:
    """Split flow button data ``r:<step>:<value>``; None for anything else."""
    parts = data.split(":")
    return (parts[1], parts[2]) if len(parts) == 3 and data.startswith(PREFIX) else None


async def _person(unit: Unit, person_id: str) -> Person:
    person = await queries.get_person(session=unit.session, person_id=person_id)
    if person is None or not person.active:
        raise ServiceRefusal("refused.not_entitled")
    return person


def _key(unit: Unit, inbound: Inbound | None) -> str:
    return f"flow:{inbound.source}:{inbound.external_id}" if inbound else f"flow:{uuid.uuid4()}"


# ---- the guided report ------------------------------------------------------------------------


async def begin_report(
    ctx: ServiceContext, *, person_id: str, channel: Channel, inbound: Inbound | None = None
) -> None:
    """Start (or restart) a guided report and ask the first question."""
    async with unit_of_work(ctx, inbound) as unit:
        person = await _person(unit, person_id)
        snapshot = await directory(unit.session)
        categories = tuple(c.id for c in snapshot.active_categories())
        communities = tuple(c.id for c in snapshot.active_communities())
        known = person.community_id if person.community_id in communities else None
        options = flow.Options(categories, communities, known_community=known)
        draft = flow.start(options)
        await _store(unit, person.id, channel, draft, options)
        await _ask(unit, person, draft, options, key=_key(unit, inbound))


async def _store(
    unit: Unit, person_id: str, channel: Channel, draft: flow.Draft, options: flow.Options
) -> Draft:
    fields = asdict(draft)
    fields["step"] = draft.step.value
    fields["photos"] = list(draft.photos)
    data = {
        "draft": fields,
        "categories": list(options.categories),
        "communities": list(options.communities),
        "known": options.known_community,
    }
    return await drafts.keep(
        unit, channel=channel, person_id=person_id, flow="report", step=draft.step.value, data=data
    )


async def _options(unit: Unit, row: Draft) -> tuple[flow.Draft, flow.Options]:
    data = row.data
    fields = dict(data["draft"])
    draft = flow.Draft(
        step=flow.Step(fields["step"]),
        category=fields["category"],
        community=fields["community"],
        location=fields["location"],
        description=fields["description"],
        photos=tuple(fields["photos"]),
    )
    buildings: tuple[str, ...] = ()
    if draft.community:
        community = await queries.get_community(session=unit.session, community_id=draft.community)
        buildings = tuple(community.buildings) if community else ()
    options = flow.Options(
        tuple(data["categories"]), tuple(data["communities"]), buildings, data["known"]
    )
    return draft, options


async def _names(unit: Unit, model: type[Category] | type[Community], ids: Any) -> list[Any]:
    snapshot = await directory(unit.session)
    rows = snapshot.categories if model is Category else snapshot.communities
    return [rows[i] for i in ids if i in rows]


async def _ask(
    unit: Unit,
    person: Person,
    draft: flow.Draft,
    options: flow.Options,
    *,
    key: str,
    reask: bool = False,
) -> None:
    """Queue the question of the draft's step, with its buttons."""
    language = language_of(person, unit.default_language)
    step = draft.step.value
    choices: list[str] = []
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
        case flow.Step.DESCRIPTION:
            template = "flow.ask_description"
        case flow.Step.PHOTOS:
            template = "flow.photo_added" if draft.photos else "flow.ask_photos"
            params = {"count": len(draft.photos)}
            done = "button.flow.photos_done" if draft.photos else "button.flow.skip"
            extra = [(done, f"{PREFIX}{step}:skip")]
        case flow.Step.CONFIRM:
            template = "flow.confirm"
            params = await _summary(unit, draft, language)
            extra = [("button.flow.confirm", f"{PREFIX}{step}:ok")]
    buttons = [
        [{"label": text, "data": f"{PREFIX}{step}:{i}"} for i, text in pair]
        for pair in _pairs(list(enumerate(choices)))
    ]
    buttons.append(
        [{"key": label, "data": data} for label, data in extra]
        + [{"key": "button.flow.abandon", "data": f"{PREFIX}{step}:x"}]
    )
    await Outbox(unit.session, unit.now, unit.default_language).ask(
        person, template, key=key, params=params, buttons=buttons, reask=reask
    )


def _pairs(items: list[Any]) -> list[list[Any]]:
    return [items[i : i + 2] for i in range(0, len(items), 2)]


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
        "description": draft.description,
        "photos": len(draft.photos),
    }


# ---- answers ----------------------------------------------------------------------------------


async def answer(
    ctx: ServiceContext,
    *,
    person_id: str,
    channel: Channel,
    text: str | None = None,
    photo: str | None = None,
    choice: str | None = None,
    inbound: Inbound | None = None,
) -> bool:
    """Take a message or a flow button as the answer to the question in progress.

    Returns False when no conversation is in progress (the caller says it did not understand).
    """
    async with unit_of_work(ctx, inbound) as unit:
        person = await _person(unit, person_id)
        row = await unit.session.get(Draft, drafts.chat_key(channel, person.id))
        if row is None:
            return False
        key = _key(unit, inbound)
        if row.flow == "report":
            await _report_step(unit, person, row, channel, _given(row, text, photo, choice), key)
        else:
            await _question_answered(unit, person, row, text=text, choice=choice, key=key)
        return True


def _given(row: Draft, text: str | None, photo: str | None, choice: str | None) -> flow.Input:
    if photo is not None:
        return flow.Photo(photo)
    if choice is None:
        return flow.Text(text or "")
    parsed = parse_choice(choice)
    if parsed is None or parsed[0] != row.step:
        return flow.Text("")  # a button of an earlier question: ask the current one again
    value = parsed[1]
    signals = {"x": flow.Signal.ABANDON, "skip": flow.Signal.SKIP, "ok": flow.Signal.CONFIRM}
    if value in signals:
        return signals[value]
    return flow.Choice(int(value)) if value.isdigit() else flow.Text("")


async def _report_step(
    unit: Unit, person: Person, row: Draft, channel: Channel, given: flow.Input, key: str
) -> None:
    draft, options = await _options(unit, row)
    outcome = flow.advance(draft, options, given)
    if outcome.draft is None:
        await unit.session.delete(row)
        await Outbox(unit.session, unit.now, unit.default_language).ask(
            person, "flow.abandoned", key=key
        )
        return
    if outcome.submitted:
        new = outcome.draft
        await open_case(
            unit,
            resident_id=person.id,
            channel=channel,
            new=NewReport(
                community_id=new.community or "",
                category_id=new.category or "",
                description=new.description,
                location=new.location,
                photos=new.photos,
            ),
        )
        await unit.session.delete(row)
        return
    draft, options = outcome.draft, flow.Options(options.categories, options.communities)
    row = await _store(unit, person.id, channel, draft, options)
    draft, options = await _options(unit, row)
    await _ask(unit, person, draft, options, key=key, reask=outcome.reask)


async def abandon(
    ctx: ServiceContext, *, person_id: str, channel: Channel, inbound: Inbound | None = None
) -> None:
    """Drop whatever is in progress (``/cancel``) and say so."""
    async with unit_of_work(ctx, inbound) as unit:
        person = await _person(unit, person_id)
        row = await unit.session.get(Draft, drafts.chat_key(channel, person.id))
        if row is not None:
            await unit.session.delete(row)
        template = "flow.abandoned" if row is not None else "flow.nothing_to_cancel"
        await Outbox(unit.session, unit.now, unit.default_language).ask(
            person, template, key=_key(unit, inbound)
        )


# ---- one-message questions --------------------------------------------------------------------


async def ask_before(
    ctx: ServiceContext,
    *,
    person_id: str,
    channel: Channel,
    number: int,
    action: Action,
    inbound: Inbound | None = None,
) -> None:
    """A button whose action needs more: check it is allowed now, then ask for what is missing
    (the reason for "not satisfied", reject or close; the new manager for reassign)."""
    async with unit_of_work(ctx, inbound) as unit:
        person = await _person(unit, person_id)
        case = await queries.get_case(session=unit.session, number=number, lock=True)
        if case is None:
            raise ServiceRefusal("refused.no_such_case", {"number": number})
        parties = await load_parties(session=unit.session, case=case)
        trial = apply(
            state_of(case),
            action,
            parties.relations(person.id),
            rating=Rating.DISSATISFIED,
            new_manager_id="-",
        )
        if isinstance(trial, Refusal):
            status = both(f"status.{case.status}")
            raise ServiceRefusal(trial.reason, {"number": number, "status": status})
        flow_name = _ASKING.get(action, "reassign")
        data: dict[str, Any] = {"number": number}
        buttons: list[list[dict[str, str]]] = []
        if action is Action.REASSIGN:
            managers = await _managers(unit, community=case.community_id, exclude=case.manager_id)
            data["managers"] = [m.id for m in managers]
            buttons = _manager_buttons(list(enumerate(managers)))
        elif action is Action.RATE:
            buttons = [[{"key": "button.flow.no_reason", "data": f"{PREFIX}{flow_name}:skip"}]]
        buttons.append([{"key": "button.flow.abandon", "data": f"{PREFIX}{flow_name}:x"}])
        await drafts.keep(
            unit, channel=channel, person_id=person.id, flow=flow_name, step=flow_name, data=data
        )
        template = {
            "rate_reason": "flow.ask_rate_reason",
            "reject_reason": "flow.ask_reject_reason",
            "close_reason": "flow.ask_reject_reason",
            "reassign": "flow.ask_reassign",
        }[flow_name]
        await Outbox(unit.session, unit.now, unit.default_language).ask(
            person, template, key=_key(unit, inbound), params=data, buttons=buttons
        )


def _manager_buttons(managers: list[tuple[int, Person]]) -> list[list[dict[str, str]]]:
    """A button per manager (by their index in the offer), two a row."""
    return [
        [{"label": m.name, "data": f"{PREFIX}reassign:{i}"} for i, m in pair]
        for pair in _pairs(managers)
    ]


async def _ask_reassign(
    unit: Unit, person: Person, number: int, manager_ids: list[str], *, key: str, reask: bool
) -> None:
    """Ask again to whom case ``number`` goes, with the buttons of the managers offered before."""
    offered = [(i, await unit.session.get(Person, m)) for i, m in enumerate(manager_ids)]
    buttons = _manager_buttons([(i, m) for i, m in offered if m is not None])
    buttons.append([{"key": "button.flow.abandon", "data": f"{PREFIX}reassign:x"}])
    await Outbox(unit.session, unit.now, unit.default_language).ask(
        person,
        "flow.ask_reassign",
        key=key,
        params={"number": number},
        buttons=buttons,
        reask=reask,
    )


async def _managers(unit: Unit, *, community: str, exclude: str | None) -> list[Person]:
    """Who a case may go to: the managers and supervisors of its community (by the directory or
    by a routing rule for it); everyone who manages, when the directory names none there."""
    query = (
        select(Person)
        .where(col(Person.active), col(Person.role).in_(("manager", "supervisor")))
        .order_by(col(Person.role), col(Person.id))
    )
    everyone = [p for p in (await unit.session.exec(query)).all() if p.id != exclude]
    routed = {
        r.manager_id for r in await queries.routes(session=unit.session) if r.community == community
    }
    local = [p for p in everyone if p.community_id == community or p.id in routed]
    return local or everyone


async def _question_answered(
    unit: Unit, person: Person, row: Draft, *, text: str | None, choice: str | None, key: str
) -> None:
    number = int(row.data["number"])
    parsed = parse_choice(choice) if choice else None
    if parsed is not None and (parsed[0] != row.flow or parsed[1] == "x"):
        await unit.session.delete(row)
        if parsed[1] == "x":
            await Outbox(unit.session, unit.now, unit.default_language).ask(
                person, "tg.done", key=key
            )
        return
    note = (text or "").strip()
    actor = Actor(person.id, Channel(row.chat.split(":")[0]))
    match row.flow:
        case "rate_reason":
            request = Request(Action.RATE, rating=Rating.DISSATISFIED, note=note)
        case "reject_reason":
            duplicate = _DUPLICATE.fullmatch(note)
            request = (
                Request(Action.REJECT, duplicate_of=int(duplicate.group(1)))
                if duplicate
                else Request(Action.REJECT, note=note)
            )
        case "close_reason":
            request = Request(Action.CLOSE, note=note)
        case _:
            managers = row.data.get("managers", [])
            index = int(parsed[1]) if parsed and parsed[1].isdigit() else -1
            if not 0 <= index < len(managers):
                # free text where a manager must be chosen: the same buttons again, gently
                await _ask_reassign(unit, person, number, managers, key=key, reask=True)
                return
            request = Request(Action.REASSIGN, manager_id=managers[index])
    await unit.session.delete(row)
    overtaken = await _overtaken(unit, person, number, request.action)
    if overtaken is not None:
        # The case moved on since the question was asked: it no longer stands; say why.
        await Outbox(unit.session, unit.now, unit.default_language).ask(
            person, overtaken.reason, key=key, params=overtaken.params
        )
        return
    await act_in(unit, number=number, actor=actor, request=request)


_OVERTAKEN = frozenset({"refused.closed", "refused.wrong_status", "refused.not_entitled"})


async def _overtaken(
    unit: Unit, person: Person, number: int, action: Action
) -> ServiceRefusal | None:
    """Why a question asked earlier no longer stands (the case's status or holder changed),
    or None while its answer can still be acted on."""
    case = await queries.get_case(session=unit.session, number=number, lock=True)
    if case is None:
        return ServiceRefusal("refused.no_such_case", {"number": number})
    parties = await load_parties(session=unit.session, case=case)
    trial = apply(
        state_of(case),
        action,
        parties.relations(person.id),
        rating=Rating.DISSATISFIED,
        new_manager_id="-",
    )
    if isinstance(trial, Refusal) and trial.reason in _OVERTAKEN:
        return ServiceRefusal(
            trial.reason, {"number": number, "status": both(f"status.{case.status}")}
        )
    return None
