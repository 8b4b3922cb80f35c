"""Answers to commands: welcome and help, a person's cases, open cases, one case for staff, the
language, and binding a chat by invite. Each answer goes through the outbox like every message."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlmodel import col, or_, select

from bot.services.cases.parties import load_parties
from bot.services.cases.routing import zone
from bot.services.cases.scene import both, state_of
from bot.services.unit import identities
from bot.services.unit.context import ServiceContext, ServiceRefusal, Unit
from bot.services.unit.inbound import Inbound
from bot.services.unit.reach import language_of
from bot.services.unit.work import unit_of_work
from core.buttons import Button, buttons_for
from core.cases import OPEN_STATUSES
from core.texts import normalize_language, render
from db import queries
from db.models import Case, CaseFollower, CommunityStaff, Invite, Person
from db.models.sessions import hashed

MAX_LISTED = 20
_HELP = {"resident": "tg.help_resident", "staff": "tg.help_staff"}


async def say(
    ctx: ServiceContext,
    inbound: Inbound,
    template: str,
    *,
    params: dict[str, Any] | None = None,
    buttons: Sequence[Sequence[Button]] = (),
) -> None:
    """Answer the inbound with one message."""
    async with unit_of_work(ctx, inbound) as unit:
        await unit.outbox.tell(
            unit.active_sender(), template, key=unit.key(), params=params or {}, buttons=buttons
        )


async def welcome(ctx: ServiceContext, inbound: Inbound) -> None:
    """The greeting and the help that fits the person's role."""
    async with unit_of_work(ctx, inbound) as unit:
        person = unit.active_sender()
        await unit.outbox.tell(person, "tg.welcome", key=unit.key(), params={"name": person.name})
        await unit.outbox.tell(person, _HELP.get(person.role, "tg.help_manager"), key=unit.key())


async def help_for(ctx: ServiceContext, inbound: Inbound) -> None:
    """The help that fits the person's role."""
    async with unit_of_work(ctx, inbound) as unit:
        person = unit.active_sender()
        await unit.outbox.tell(person, _HELP.get(person.role, "tg.help_manager"), key=unit.key())


async def _list(
    unit: Unit,
    person: Person,
    cases: Sequence[Case],
    template: str,
    *,
    key: str,
    followed: Collection[int] = (),
) -> None:
    """One message listing cases, a line each (the cases ``followed`` marked so)."""
    tz = await zone(unit.session)
    lines = []
    for case in cases:
        category = await queries.get_category(session=unit.session, category_id=case.category_id)
        community = await queries.get_community(
            session=unit.session, community_id=case.community_id
        )
        language = language_of(person, unit.default_language)
        english = language == "en"
        params = {
            "number": case.number,
            "category": (category.name_en if english else category.name_zh) if category else "-",
            "community": (community.name_en if english else community.name_zh)
            if community
            else "-",
            "status": both(f"status.{case.status}")[language],
            "created": case.created_at.astimezone(tz).strftime("%m-%d %H:%M"),
        }
        line = "mycases.following_line" if case.number in followed else f"{template}_line"
        lines.append((line, params))
    language = language_of(person, unit.default_language)
    body = "\n".join(render(language, line, **p) for line, p in lines)
    await unit.outbox.tell(person, f"{template}_header", key=key, params={"lines": body})


async def my_cases(ctx: ServiceContext, inbound: Inbound) -> None:
    """A resident's cases — those they reported and those they follow — open ones first,
    newest first."""
    async with unit_of_work(ctx, inbound) as unit:
        person = unit.active_sender()
        follows = select(CaseFollower.case_number).where(CaseFollower.person_id == person.id)
        query = (
            select(Case)
            .where(or_(col(Case.resident_id) == person.id, col(Case.number).in_(follows)))
            .order_by(col(Case.status).in_([s.value for s in OPEN_STATUSES]).desc())
            .order_by(col(Case.number).desc())
            .limit(MAX_LISTED)
        )
        cases = (await unit.session.exec(query)).all()
        if not cases:
            await unit.outbox.tell(person, "tg.my_cases_none", key=unit.key())
            return
        followed = {c.number for c in cases if c.number and c.resident_id != person.id}
        await _list(unit, person, cases, "tg.my_cases", key=unit.key(), followed=followed)


async def open_cases(ctx: ServiceContext, inbound: Inbound) -> None:
    """The open cases a manager holds (or that reached a supervisor or staff), oldest first."""
    async with unit_of_work(ctx, inbound) as unit:
        person = unit.active_sender()
        staffed = select(CommunityStaff.community_id).where(CommunityStaff.person_id == person.id)
        managed = select(Person.id).where(Person.supervisor_id == person.id)
        query = (
            select(Case)
            .where(
                col(Case.status).in_([s.value for s in OPEN_STATUSES]),
                or_(
                    col(Case.manager_id) == person.id,
                    col(Case.manager_id).in_(managed),
                    col(Case.community_id).in_(staffed),
                ),
            )
            .order_by(col(Case.number))
            .limit(MAX_LISTED)
        )
        cases = (await unit.session.exec(query)).all()
        if not cases:
            await unit.outbox.tell(person, "tg.open_none", key=unit.key())
            return
        await _list(unit, person, cases, "tg.open", key=unit.key())


async def show_case(ctx: ServiceContext, inbound: Inbound, *, number: int) -> None:
    """One case for someone with a part in it (its reporter or a follower, staff, its manager and
    those above), with the buttons they may press."""
    async with unit_of_work(ctx, inbound) as unit:
        person = unit.active_sender()
        case = await queries.get_case(session=unit.session, number=number)
        if case is None:
            raise ServiceRefusal("refused.no_such_case", {"number": number})
        parties = await load_parties(session=unit.session, case=case)
        relations = parties.relations(person.id)
        if not relations:
            raise ServiceRefusal("refused.not_entitled")
        tz = await zone(unit.session)
        category = await queries.get_category(session=unit.session, category_id=case.category_id)
        community = await queries.get_community(
            session=unit.session, community_id=case.community_id
        )
        params = {
            "number": number,
            "category": {"zh": category.name_zh, "en": category.name_en} if category else "-",
            "community": {"zh": community.name_zh, "en": community.name_en} if community else "-",
            "status": both(f"status.{case.status}"),
            "location": case.location or "-",
            "description": case.description,
            "manager": parties.manager.name if parties.manager else "-",
            "created": case.created_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
        }
        await unit.outbox.tell(
            person,
            "tg.case_detail",
            key=unit.key(),
            case=case,  # a card of the case: edited as it moves, so its buttons stay true
            params=params,
            buttons=buttons_for(state_of(case), relations, number),
        )


async def set_language(ctx: ServiceContext, inbound: Inbound, *, language: str) -> None:
    """Remember the person's language and confirm in it."""
    async with unit_of_work(ctx, inbound) as unit:
        person = unit.active_sender()
        person.language = normalize_language(language) or person.language
        unit.session.add(person)
        await unit.outbox.tell(person, "tg.lang_set", key=unit.key())


async def bind_invite(ctx: ServiceContext, inbound: Inbound, *, code: str) -> Person | None:
    """Link the sender's address to the invited person (once, before expiry); None when the code
    is unknown, used or expired. A resident record made for the chat earlier hands over."""
    async with unit_of_work(ctx, inbound) as unit:
        # Only the code's hash is stored: the code itself is looked up by its hash.
        invite = await unit.session.get(Invite, hashed(code), with_for_update=True)
        if invite is None or invite.used_at is not None or invite.expires_at <= unit.now:
            await unit.outbox.tell(unit.active_sender(), "tg.invite_invalid", key=unit.key())
            return None
        person = await queries.get_person(session=unit.session, person_id=invite.person_id)
        if person is None or not person.active:
            raise ServiceRefusal("refused.not_entitled")
        await identities.bind(
            unit, person, channel=inbound.channel, address=inbound.address, source="invite"
        )
        invite.used_at = unit.now
        unit.session.add(invite)
        unit.sender = person  # the answer goes to the chat that is theirs now
        unit.outbox.sender_id = person.id
        await unit.outbox.tell(
            person,
            "tg.bound",
            key=unit.key(),
            params={"name": person.name, "role": both(f"role.{person.role}")},
        )
        return person
