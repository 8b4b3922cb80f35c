"""POST requests as a use case: the resident (the key's own: the person at the phone given,
bound to it on SMS while the number is nobody else's, else one met through this key), the case
through the same door every channel uses, the photo fetched from ``media_url``, the request's
extras, and the key's name on the ``reported`` event — one transaction, one ``Inbound``.

A phone is contact data, not identity (docs/reference.md §10): a number held by anyone else —
staff, a manager, a supervisor, any resident, another key's — never makes the filer that person,
is never taken from them, and their cases and limits are not touched.
"""

from __future__ import annotations

import hashlib
import uuid

from sqlmodel import select

from bot.services.cases import updates
from bot.services.cases.photos import NewPhoto
from bot.services.cases.report import NewReport, open_case
from bot.services.unit import identities
from bot.services.unit.context import ServiceContext, Unit
from bot.services.unit.inbound import Inbound
from bot.services.unit.work import unit_of_work
from core.cases import Channel, EventKind
from core.texts import render as say
from db import queries
from db.models import Case, CaseEvent, InboundReceipt, Open311Request, Person

from .form import MAX_DESCRIPTION, Filing
from .keys import Key

CHANNEL = Channel.OPEN311
SMS = "sms"  # where a resident with a phone is told of their case, and rates it


async def file_request(
    ctx: ServiceContext,
    filing: Filing,
    key: Key,
    *,
    language: str,
    photos: tuple[NewPhoto, ...] = (),
) -> Case:
    """File ``filing`` for ``key``: the new case (routed, its manager and resident told)."""
    inbound = Inbound(channel=CHANNEL, external_id=uuid.uuid4().hex, language=language)
    async with unit_of_work(ctx, inbound) as unit:
        resident = await _resident(unit, filing, key, language)
        new = NewReport(
            community_id=filing.community_id,
            category_id=filing.category_id,
            description=filing.description,
            location=filing.location,
            photos=photos,
            limit=MAX_DESCRIPTION,
        )
        case = await open_case(unit, resident_id=resident.id, channel=CHANNEL, new=new)
        assert case.number is not None
        unit.session.add(
            Open311Request(
                case_number=case.number,
                key_name=key.name,
                lat=filing.lat,
                long=filing.long,
                address_id=filing.address_id,
                account_id=filing.account_id,
                media_url=filing.media_url,
            )
        )
        await _sign(unit, case.number, key, filing.phone)
        # Its report is the city's first update (announced before the request row was there).
        reported = await queries.case_events(session=unit.session, number=case.number)
        await updates.queue(unit.outbox, case, reported)
        return case


async def _sign(unit: Unit, number: int, key: Key, phone: str | None) -> None:
    """Put the key's name on the case's ``reported`` event: who filed it, in the audit trail,
    with the phone the client gave as the filer's contact (whether or not it reaches them)."""
    query = select(CaseEvent).where(
        CaseEvent.case_number == number, CaseEvent.kind == EventKind.REPORTED.value
    )
    extra = {"api_key": key.name} | ({"contact_phone": phone} if phone else {})
    for event in (await unit.session.exec(query)).all():
        event.note = key.name
        event.data = {**event.data, **extra}
        unit.session.add(event)


async def _resident(unit: Unit, filing: Filing, key: Key, language: str) -> Person:
    """The key's resident at ``filing.phone`` while that number is the key's to give, else a
    resident of this key's client: the same one for the same ``account_id``/``device_id``, a new
    one otherwise (the phone then stays contact data on the ``reported`` event)."""
    if filing.phone:
        at_phone = await _phone_resident(unit, filing, key, language)
        if at_phone is not None:
            return at_phone
    who = filing.account_id or filing.device_id
    if who:
        person_id = _client_id(key, who)
        known = await queries.get_person(session=unit.session, person_id=person_id)
        if known is not None and known.active:
            return known
    else:
        person_id = f"o311-{uuid.uuid4().hex[:20]}"
    name = filing.name or say(language, "open311.resident", client=key.name)
    return await _new_resident(unit, person_id, name, language)


async def _phone_resident(unit: Unit, filing: Filing, key: Key, language: str) -> Person | None:
    """The key's resident for ``filing.phone``, bound to it on SMS (told of the case there, and
    rating it there) — made when new. None when the number is not the key's to give: an active
    person other than the key's own resident holds it, or the person at it has written to us
    themselves (then they are a resident in their own right, whose limits a key must not use)."""
    phone = filing.phone
    assert phone is not None
    session = unit.session
    person_id = _client_id(key, f"tel\n{phone}")
    held = await queries.person_at(session=session, channel=SMS, address=phone)
    if held is not None:
        holder = held[0]
        if holder.id != person_id or await _wrote_in(unit, phone):
            return None
        return holder
    # Nobody active holds the number: it becomes the key's resident's, as an SMS stranger's
    # number becomes theirs (an inactive holder's address is free, see queries.person_at).
    known = await queries.get_person(session=session, person_id=person_id)
    if known is not None and known.active:
        person = known
    else:
        person = await _new_resident(unit, person_id, filing.name or phone, language)
    await identities.bind(unit, person, channel=SMS, address=phone, source=CHANNEL)
    return person


async def _wrote_in(unit: Unit, phone: str) -> bool:
    """True when ``phone`` has texted us itself (a receipt of an SMS from it)."""
    query = select(InboundReceipt.id).where(
        InboundReceipt.source == SMS, InboundReceipt.sender == phone
    )
    return (await unit.session.exec(query.limit(1))).first() is not None


def _client_id(key: Key, who: str) -> str:
    """The id of the key's resident known to the client as ``who``: one per key, never another
    key's (a client cannot name a resident it did not make)."""
    return "o311-" + hashlib.sha256(f"{key.name}\n{who}".encode()).hexdigest()[:20]


async def _new_resident(unit: Unit, person_id: str, name: str, language: str) -> Person:
    """A resident met through Open311 (a fresh id when a retired record holds this one)."""
    if await queries.get_person(session=unit.session, person_id=person_id) is not None:
        person_id = f"o311-{uuid.uuid4().hex[:20]}"
    person = Person(
        id=person_id, name=name[:100], role="resident", language=language, source=CHANNEL
    )
    unit.session.add(person)
    await unit.session.flush()
    return person
