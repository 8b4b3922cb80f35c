"""One case in the staff console: everything about it for a reader allowed to see it (else
nothing, as if it did not exist) — its followers, the cases merged into it, its likely
duplicates — the actions that reader may take — the bot's own use cases, merging among them,
recorded with channel ``web`` — and internal notes, events residents never see."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.cases import lifecycle, merge
from bot.services.cases.following import Suggestion
from bot.services.cases.parties import load_parties
from bot.services.cases.photos import MAX_POSITION
from bot.services.cases.routing import managers_for, policy_for
from bot.services.cases.scene import state_of
from bot.services.staff.crowd import (
    Follower,
    event_details,
    followers_of,
    likely_duplicates,
    may_unmerge,
    merged_from,
)
from bot.services.staff.listing import Viewer
from bot.services.staff.sent import Party, Sent, case_outbox, parties, sent_messages
from bot.services.staff.views import case_json
from bot.services.unit.context import Actor, ServiceContext, ServiceRefusal
from bot.services.unit.inbound import Inbound
from bot.services.unit.work import unit_of_work
from core.access import console_sees
from core.cases import Action, Channel, EventKind, Relation, Status, allowed_actions
from core.clean import MAX_DESCRIPTION, clean
from db import queries
from db.models import Case, CaseEvent, CasePhoto, Person

CHANNEL = Channel.WEB
MAX_NOTE = MAX_DESCRIPTION


class NotVisible(Exception):
    """The case does not exist for this reader (the console answers 404 either way)."""


@dataclass(frozen=True, slots=True)
class CaseView:
    """A case as the console shows it."""

    case: dict[str, Any]
    actions: tuple[str, ...]  # Action values this reader may take now
    managers: tuple[tuple[str, str], ...]  # whom it may go to (core.access.may_hold): (id, name)
    sent: tuple[Sent, ...]  # what it sent to whom: one per message, a card's edits under it
    photos: tuple[int, ...]  # the positions of the case's photos, in the order sent
    followers: tuple[Follower, ...] = ()
    merged_from: tuple[int, ...] = ()  # the cases merged into this one (and not taken back)
    may_merge: bool = False  # staff of its community, and the case is open
    may_unmerge: bool = False  # a merged duplicate whose original is still open
    likely: tuple[Suggestion, ...] = ()  # open cases that may be the same problem
    people: dict[str, Party] = field(default_factory=dict)  # everyone the page names, by id


async def _relations(session: AsyncSession, viewer: Viewer, case: Case) -> frozenset[Relation]:
    """The reader's relations to ``case``; NotVisible when the console must not show it."""
    relations = (await load_parties(session=session, case=case)).relations(viewer.person_id)
    acted = select(CaseEvent.id).where(
        CaseEvent.case_number == case.number, CaseEvent.actor_id == viewer.person_id
    )
    did = (await session.exec(acted.limit(1))).first() is not None
    if not console_sees(viewer.role, relations, acted=did):
        raise NotVisible()
    return relations


async def _visible_case(session: AsyncSession, viewer: Viewer, number: int) -> Case:
    case = await queries.get_case(session=session, number=number)
    if case is None:
        raise NotVisible()
    await _relations(session, viewer, case)
    return case


async def case_view(ctx: ServiceContext, viewer: Viewer, number: int) -> CaseView:
    """Case ``number`` for ``viewer``; NotVisible when it is not theirs to see."""
    async with unit_of_work(ctx) as unit:  # read only; a unit for the bot's list of managers
        session = unit.session
        case = await queries.get_case(session=session, number=number)
        if case is None:
            raise NotVisible()
        relations = await _relations(session, viewer, case)
        policy = await policy_for(session=session, category_id=case.category_id)
        tz = policy.tz
        events = await queries.case_events(session=session, number=number)
        rows = await case_outbox(session, number)
        details = [event_details(e, policy.chain) for e in events]
        ids = {e.actor_id for e in events} | {m.person_id for m in rows}
        ids |= {d["manager"] for d in details if "manager" in d}
        people = await parties(session, [*ids, case.manager_id, case.resident_id])
        names: dict[str, tuple[str, str]] = {f"person:{i}": (p.name, i) for i, p in people.items()}
        for kind, key in (("community", case.community_id), ("category", case.category_id)):
            row = await (
                queries.get_community(session=session, community_id=key)
                if kind == "community"
                else queries.get_category(session=session, category_id=key)
            )
            if row is not None:
                names[f"{kind}:{key}"] = (row.name_zh, row.name_en)
        actions = allowed_actions(state_of(case), relations - {Relation.SYSTEM})
        may_merge = Relation.STAFF in relations and Status(case.status).is_open
        managers: list[Person] = []
        if Action.REASSIGN in actions:
            managers = await managers_for(
                unit, community=case.community_id, exclude=case.manager_id
            )
        data = case_json(case.model_dump(), tz, names=names, events=events)
        for shown, detail in zip(data["events"], details, strict=True):
            shown.update(detail)
        data["category_name_en"] = names.get(f"category:{case.category_id}", ("", ""))[1]
        data["community_name_en"] = names.get(f"community:{case.community_id}", ("", ""))[1]
        return CaseView(
            case=data,
            actions=tuple(a.value for a in actions if a is not Action.RATE),
            managers=tuple((p.id, p.name) for p in managers),
            sent=sent_messages(rows, tz),
            photos=tuple(
                p.position for p in await queries.case_photos(session=session, number=number)
            ),
            followers=await followers_of(session, case, tz) if case.followers else (),
            merged_from=merged_from(events),
            may_merge=may_merge,
            may_unmerge=await may_unmerge(session, case, relations, events),
            likely=await likely_duplicates(session, case, unit.now) if may_merge else (),
            people=people,
        )


async def check_visible(ctx: ServiceContext, viewer: Viewer, number: int) -> None:
    """NotVisible unless ``viewer`` may see case ``number`` (before reading anything of it)."""
    async with ctx.db.reading() as session:
        await _visible_case(session, viewer, number)


async def photo_of(ctx: ServiceContext, viewer: Viewer, *, number: int, position: int) -> CasePhoto:
    """Photo ``position`` of case ``number`` with its bytes (if kept), for a reader who may see
    the case; NotVisible otherwise, or when there is no such photo."""
    if not 0 <= position < MAX_POSITION:  # nor a number the database would refuse to bind
        raise NotVisible()
    async with ctx.db.reading() as session:
        await _visible_case(session, viewer, number)
        photo = await queries.case_photo(session=session, number=number, position=position)
    if photo is None:
        raise NotVisible()
    return photo


async def act_on_case(
    ctx: ServiceContext,
    viewer: Viewer,
    *,
    number: int,
    request: lifecycle.Request,
    form_id: str,
) -> Case:
    """The reader's action on case ``number``: the bot's use case, with channel ``web``; a form
    sent twice (``form_id``) acts once. NotVisible, or ServiceRefusal saying why nothing changed."""
    async with ctx.db.reading() as session:
        await _visible_case(session, viewer, number)
    actor, inbound = Actor(viewer.person_id, CHANNEL), _inbound(form_id)
    return await lifecycle.act(ctx, number=number, actor=actor, request=request, inbound=inbound)


async def merge_case(
    ctx: ServiceContext, viewer: Viewer, *, number: int, into: int, form_id: str
) -> Case:
    """Merge case ``number`` into case ``into`` (``merge.merge``, channel ``web``): NotVisible
    for a case the reader may not see, ServiceRefusal saying why nothing changed."""
    async with ctx.db.reading() as session:
        await _visible_case(session, viewer, number)
    actor, inbound = Actor(viewer.person_id, CHANNEL), _inbound(form_id)
    return await merge.merge(ctx, number=number, into=into, actor=actor, inbound=inbound)


async def unmerge_case(ctx: ServiceContext, viewer: Viewer, *, number: int, form_id: str) -> Case:
    """Undo the merge of case ``number`` (``merge.unmerge``, channel ``web``)."""
    async with ctx.db.reading() as session:
        await _visible_case(session, viewer, number)
    actor, inbound = Actor(viewer.person_id, CHANNEL), _inbound(form_id)
    return await merge.unmerge(ctx, number=number, actor=actor, inbound=inbound)


def _inbound(form_id: str) -> Inbound:
    """The receipt of a console form: its own id, so the same form sent twice acts once; a form
    without a usable id acts each time it is sent."""
    usable = 8 <= len(form_id) <= 64 and form_id.isascii() and form_id.isprintable()
    return Inbound(CHANNEL, form_id if usable else secrets.token_urlsafe(16))


async def add_note(ctx: ServiceContext, viewer: Viewer, *, number: int, text: str) -> None:
    """An internal note on case ``number``: an event for the case's staff and managers only."""
    note = clean(text)[:MAX_NOTE].strip()
    if not note:
        raise ServiceRefusal("refused.note_empty")
    async with unit_of_work(ctx) as unit:
        case = await _visible_case(unit.session, viewer, number)
        unit.session.add(
            CaseEvent(
                case_number=number,
                at=unit.now,
                kind=EventKind.NOTE,
                actor_id=viewer.person_id,
                channel=CHANNEL,
                note=note,
                data={"status": case.status, "internal": True},
            )
        )
