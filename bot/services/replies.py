"""Answers to commands: welcome and help, a person's cases, open cases, one case for staff, the
language, and binding a chat by invite. Each answer goes through the outbox like every message."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import col, or_, select

from core.buttons import buttons_for
from core.cases import OPEN_STATUSES
from core.texts import normalize_language, render
from db import queries
from db.models import Case, CommunityStaff, Invite, Person

from .announce import both, state_of
from .context import Inbound, ServiceContext, ServiceRefusal, Unit, unit_of_work
from .levels import zone
from .notify import Outbox, language_of
from .parties import load_parties

MAX_LISTED = 20
_HELP = {"resident": "tg.help_resident", "staff": "tg.help_staff"}


def _key(inbound: Inbound | None, unit: Unit) -> str:
    return f"reply:{inbound.source}:{inbound.external_id}" if inbound else f"reply:{unit.now}"


async def _person(unit: Unit, person_id: str) -> Person:
    person = await queries.get_person(session=unit.session, person_id=person_id)
    if person is None or not person.active:
        raise ServiceRefusal("refused.not_entitled")
    return person


async def say(
    ctx: ServiceContext,
    *,
    person_id: str,
    template: str,
    params: dict[str, Any] | None = None,
    buttons: Sequence[Sequence[dict[str, str]]] = (),
    inbound: Inbound | None = None,
) -> None:
    """Queue one answer (buttons as ``{"key"|"label": …, "data": …}``)."""
    async with unit_of_work(ctx, inbound) as unit:
        person = await _person(unit, person_id)
        await Outbox(unit.session, unit.now, unit.default_language).ask(
            person, template, key=_key(inbound, unit), params=params or {}, buttons=buttons
        )


async def welcome(ctx: ServiceContext, *, person_id: str, inbound: Inbound | None = None) -> None:
    """The greeting and the help that fits the person's role."""
    async with unit_of_work(ctx, inbound) as unit:
        person = await _person(unit, person_id)
        outbox = Outbox(unit.session, unit.now, unit.default_language)
        key = _key(inbound, unit)
        await outbox.ask(person, "tg.welcome", key=key, params={"name": person.name})
        await outbox.ask(person, _HELP.get(person.role, "tg.help_manager"), key=key)


async def help_for(ctx: ServiceContext, *, person_id: str, inbound: Inbound | None = None) -> None:
    """The help that fits the person's role."""
    async with unit_of_work(ctx, inbound) as unit:
        person = await _person(unit, person_id)
        template = _HELP.get(person.role, "tg.help_manager")
        await Outbox(unit.session, unit.now, unit.default_language).ask(
            person, template, key=_key(inbound, unit)
        )


async def _list(
    unit: Unit, person: Person, cases: Sequence[Case], template: str, *, key: str
) -> None:
    """One message listing cases, a line each."""
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
        lines.append(params)
    language = language_of(person, unit.default_language)
    body = "\n".join(render(language, f"{template}_line", **p) for p in lines)
    await Outbox(unit.session, unit.now, unit.default_language).ask(
        person, f"{template}_header", key=key, params={"lines": body}
    )


async def my_cases(ctx: ServiceContext, *, person_id: str, inbound: Inbound | None = None) -> None:
    """A resident's cases, open ones first, newest first."""
    async with unit_of_work(ctx, inbound) as unit:
        person = await _person(unit, person_id)
        query = (
            select(Case)
            .where(Case.resident_id == person.id)
            .order_by(col(Case.status).in_([s.value for s in OPEN_STATUSES]).desc())
            .order_by(col(Case.number).desc())
            .limit(MAX_LISTED)
        )
        cases = (await unit.session.exec(query)).all()
        if not cases:
            await Outbox(unit.session, unit.now, unit.default_language).ask(
                person, "tg.my_cases_none", key=_key(inbound, unit)
            )
            return
        await _list(unit, person, cases, "tg.my_cases", key=_key(inbound, unit))


async def open_cases(
    ctx: ServiceContext, *, person_id: str, inbound: Inbound | None = None
) -> None:
    """The open cases a manager holds (or that reached a supervisor or staff), oldest first."""
    async with unit_of_work(ctx, inbound) as unit:
        person = await _person(unit, person_id)
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
            await Outbox(unit.session, unit.now, unit.default_language).ask(
                person, "tg.open_none", key=_key(inbound, unit)
            )
            return
        await _list(unit, person, cases, "tg.open", key=_key(inbound, unit))


async def show_case(
    ctx: ServiceContext, *, person_id: str, number: int, inbound: Inbound | None = None
) -> None:
    """One case for someone who may act on it (staff, manager, supervisor), with their buttons."""
    async with unit_of_work(ctx, inbound) as unit:
        person = await _person(unit, person_id)
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
        await Outbox(unit.session, unit.now, unit.default_language).tell(
            person,
            "tg.case_detail",
            key=_key(inbound, unit),
            params=params,
            buttons=buttons_for(state_of(case), relations, number),
        )


async def set_language(
    ctx: ServiceContext, *, person_id: str, language: str, inbound: Inbound | None = None
) -> None:
    """Remember the person's language and confirm in it."""
    async with unit_of_work(ctx, inbound) as unit:
        person = await _person(unit, person_id)
        person.language = normalize_language(language) or person.language
        unit.session.add(person)
        await Outbox(unit.session, unit.now, unit.default_language).ask(
            person, "tg.lang_set", key=_key(inbound, unit)
        )


async def heard_from(ctx: ServiceContext, *, person_id: str, language: str | None = None) -> Person:
    """A person wrote on Telegram: they can be reached there again, and when the directory gives
    them no language, Telegram's ``language`` becomes theirs."""
    async with unit_of_work(ctx) as unit:
        person = await queries.get_person(session=unit.session, person_id=person_id)
        assert person is not None, person_id
        person.telegram_unreachable = False
        person.language = person.language or normalize_language(language)
        unit.session.add(person)
        return person


async def bind_invite(
    ctx: ServiceContext,
    *,
    code: str,
    telegram_id: int,
    inbound: Inbound | None = None,
) -> Person | None:
    """Link this Telegram user to the invited person (once, before expiry); None when the code
    is unknown, used or expired. A resident record made for the chat earlier hands over."""
    async with unit_of_work(ctx, inbound) as unit:
        invite = await unit.session.get(Invite, code, with_for_update=True)
        if invite is None or invite.used_at is not None or invite.expires_at <= unit.now:
            return None
        person = await _person(unit, invite.person_id)
        stray = await queries.person_by_telegram(session=unit.session, telegram_id=telegram_id)
        if stray is not None and stray.id != person.id:
            for case in (
                await unit.session.exec(select(Case).where(Case.resident_id == stray.id))
            ).all():
                case.resident_id = person.id
                unit.session.add(case)
            stray.telegram_id, stray.active = None, stray.source == "directory" and stray.active
            unit.session.add(stray)
            await unit.session.flush()
        person.telegram_id, person.telegram_unreachable = telegram_id, False
        invite.used_at = unit.now
        unit.session.add_all([person, invite])
        await Outbox(unit.session, unit.now, unit.default_language).ask(
            person,
            "tg.bound",
            key=_key(inbound, unit),
            params={"name": person.name, "role": both(f"role.{person.role}")},
        )
        return person
