"""What a message means when no question waits for it — the requests every channel's adapter
makes of text: a report, a rating, a status query, an action by reply code, a fixed answer,
opting out or in. A question in progress takes the message first, on every channel."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from bot.services.cases import inquiry
from bot.services.cases.following import followed_numbers
from bot.services.cases.lifecycle import Request, act_in
from bot.services.cases.parties import load_parties
from bot.services.cases.photos import NewPhoto
from bot.services.cases.report import NewReport, category_for
from bot.services.cases.scene import both
from bot.services.talk import drafts, questions, resolving, waiting
from bot.services.unit.context import ServiceContext, ServiceRefusal, Unit
from bot.services.unit.inbound import Inbound
from bot.services.unit.reach import localize
from bot.services.unit.work import unit_of_work
from core.cases import Action, Rating
from core.clean import clean, describes
from core.texts import LANGUAGES, render
from db import queries
from db.models import Case, OptOut, Person


@dataclass(frozen=True, slots=True)
class Answer:
    """Answer with a fixed message (help, "I did not understand")."""

    template: str


@dataclass(frozen=True, slots=True)
class Report:
    """A new report in one message. Its community: the one whose own address the message was
    sent to (``to_address``: a community's SMS number), else the sender's, else they are asked."""

    text: str
    to_address: str | None = None
    # Photos that came with it (an MMS's images, fetched), and how many could not be taken.
    photos: tuple[NewPhoto, ...] = ()
    photos_refused: int = 0


@dataclass(frozen=True, slots=True)
class RateCase:
    """A rating in words or digits, for case ``number`` or the one waiting for it."""

    rating: Rating
    number: int | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class StatusOf:
    """Where case ``number`` (or the sender's latest) stands."""

    number: int | None = None


@dataclass(frozen=True, slots=True)
class ActOn:
    """An action on a case by reply code (acknowledge, resolve), confirmed in a message."""

    number: int
    action: Action


@dataclass(frozen=True, slots=True)
class Subscribe:
    """Opt out of (``on`` False) or back into messages at this address."""

    on: bool


Meaning = Answer | Report | RateCase | StatusOf | ActOn | Subscribe
# Free text: what a question in progress waits for (anything else a question leaves alone
# unless it is a reply picking one of its choices).
_FREE = (Answer, Report)


async def message(
    ctx: ServiceContext,
    inbound: Inbound,
    meaning: Meaning,
    *,
    text: str | None = None,
    photo: str | None = None,
    about: int | None = None,
) -> None:
    """Handle one message: the answer to the question in progress, else a photo of the fix
    sent about a case (``about``: the card it replies to), else the answer to a question asked
    of its sender as a case's reporter, else what it means. Its text is cleaned here, whichever
    channel it came by (``core.clean``)."""
    text = clean(text) if text is not None else None
    meaning = _cleaned(meaning)
    async with unit_of_work(ctx, inbound) as unit:
        person = unit.active_sender()
        row = await drafts.current(unit, inbound.channel, person.id)
        picks = row is not None and text is not None and drafts.picked(row, text) is not None
        free = isinstance(meaning, _FREE) or photo is not None
        taken = row is not None and (free or picks)
        if taken and await waiting.answer_in(unit, text=text, photo=photo):
            return
        fix = photo is not None and about is not None
        if fix and await resolving.photo_about(unit, person, about or 0, photo or "", text):
            return
        sent = NewPhoto(source=inbound.channel, file_id=photo) if photo is not None else None
        if free and await inquiry.answer_in(unit, person, text=text, photo=sent):
            return
        await perform(unit, person, meaning)


def _cleaned(meaning: Meaning) -> Meaning:
    """``meaning`` with the text a channel took from the message cleaned."""
    match meaning:
        case Report(text):
            return replace(meaning, text=clean(text))
        case RateCase(reason=reason):
            return replace(meaning, reason=clean(reason))
    return meaning


async def perform(unit: Unit, person: Person, meaning: Meaning) -> None:
    """Do what the message means, within its unit of work."""
    key = unit.key()
    match meaning:
        case Answer(template):
            await unit.outbox.tell(person, template, key=key)
        case Report(text, to_address, photos, refused):
            if not describes(text):
                # Nothing left to act on (empty, only emoji or marks): ask what happened.
                raise ServiceRefusal("refused.empty_description")
            own = await queries.community_by_number(session=unit.session, number=to_address or "")
            community = own.id if own is not None else person.community_id
            if community is None:
                await questions.ask_community(unit, person, text)
                return
            category = await category_for(unit, text)
            new = NewReport(community, category, text, photos=photos, photos_refused=refused)
            # Open cases it may be are offered to follow first (one indexed query).
            await questions.offer_or_open(unit, person, new)
        case RateCase(rating, number, reason):
            await questions.rate(unit, rating=rating, number=number, reason=reason)
        case StatusOf(number):
            await _status(unit, person, number)
        case ActOn(number, action):
            case = await act_in(unit, number=number, actor=unit.actor(), request=Request(action))
            status = both(f"status.{case.status}")
            params = {"number": number, "status": status}
            await unit.outbox.tell(person, "sms.updated", key=key, params=params)
        case Subscribe(on):
            await _subscribe(unit, person, on=on)


async def _status(unit: Unit, person: Person, number: int | None) -> None:
    """Where a case stands — told only to someone with a part in it (its resident, a follower,
    its manager and those above, its community's staff). Without a number: the sender's latest
    case, and the cases they follow."""
    session = unit.session
    case = (
        await queries.get_case(session=session, number=number)
        if number is not None
        else await queries.latest_case_of(session=session, resident_id=person.id)
    )
    parties = await load_parties(session=session, case=case) if case else None
    followed = await followed_numbers(session, person.id, limit=3) if number is None else []
    if (case is None or parties is None or not parties.relations(person.id)) and not followed:
        raise ServiceRefusal("sms.no_case")
    if case is not None:
        params = {"number": case.number, **await _standing(unit, case)}
        await unit.outbox.tell(person, "sms.status", key=unit.key(), params=params)
    if followed:
        # One message for them all: each SMS costs, and three short lines fit in two segments.
        standings = [
            {"number": n, **await _standing(unit, followed_case)}
            for n in followed
            if (followed_case := await queries.get_case(session=session, number=n)) is not None
        ]
        cases = {
            language: "\n".join(
                render(
                    language, "sms.status_item", **{k: localize(v, language) for k, v in p.items()}
                )
                for p in standings
            )
            for language in LANGUAGES
        }
        params = {"cases": cases}
        await unit.outbox.tell(person, "sms.status_followed", key=unit.key(), params=params)


async def _standing(unit: Unit, case: Case) -> dict[str, Any]:
    """A case's category and status, as ``sms.status`` says them (in every language)."""
    category = await queries.get_category(session=unit.session, category_id=case.category_id)
    name = {"zh": category.name_zh, "en": category.name_en} if category else case.category_id
    return {"category": name, "status": both(f"status.{case.status}")}


async def _subscribe(unit: Unit, person: Person, *, on: bool) -> None:
    """Remember (or forget) that the sender's address opted out, and say so."""
    assert unit.inbound is not None
    address = unit.inbound.address
    row = await unit.session.get(OptOut, address)
    if not on and row is None:
        unit.session.add(OptOut(phone=address, at=unit.now, source=unit.inbound.channel))
    elif on and row is not None:
        await unit.session.delete(row)
    # The answer to STOP is the last message: it goes in the reply, not through the opt-out.
    await unit.outbox.tell(person, "sms.opted_in" if on else "sms.opted_out", key=unit.key())
