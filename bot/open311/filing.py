"""POST requests as a use case: the resident (the person at the phone given, bound to it on the
SMS channel so they are told and can rate by SMS; else one met through this key), the case
through the same door every channel uses, the photo fetched from ``media_url``, the request's
extras, and the key's name on the ``reported`` event — one transaction, one ``Inbound``."""

from __future__ import annotations

import hashlib
import uuid

from sqlmodel import select

from bot.services.cases.photos import NewPhoto
from bot.services.cases.report import NewReport, open_case
from bot.services.unit import identities
from bot.services.unit.context import ServiceContext, Unit
from bot.services.unit.inbound import Inbound
from bot.services.unit.work import unit_of_work
from core.cases import Channel, EventKind
from core.texts import render as say
from db import queries
from db.models import Case, CaseEvent, Open311Request, Person

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
        await _sign(unit, case.number, key)
        return case


async def _sign(unit: Unit, number: int, key: Key) -> None:
    """Put the key's name on the case's ``reported`` event: who filed it, in the audit trail."""
    query = select(CaseEvent).where(
        CaseEvent.case_number == number, CaseEvent.kind == EventKind.REPORTED.value
    )
    for event in (await unit.session.exec(query)).all():
        event.note = key.name
        event.data = {**event.data, "api_key": key.name}
        unit.session.add(event)


async def _resident(unit: Unit, filing: Filing, key: Key, language: str) -> Person:
    """The person at ``filing.phone`` on SMS (made and bound when new), else a resident of this
    key's client: the same one for the same ``account_id``/``device_id``, a new one otherwise."""
    session = unit.session
    if filing.phone:
        found = await queries.person_at(session=session, channel=SMS, address=filing.phone)
        if found is not None:
            return found[0]
        person_id = unit.channels.resident_id(SMS, filing.phone)
        person = await _new_resident(unit, person_id, filing.name or filing.phone, language)
        await identities.bind(unit, person, channel=SMS, address=filing.phone, source=CHANNEL)
        return person
    who = filing.account_id or filing.device_id
    if who:
        person_id = "o311-" + hashlib.sha256(f"{key.name}\n{who}".encode()).hexdigest()[:20]
        known = await queries.get_person(session=session, person_id=person_id)
        if known is not None and known.active:
            return known
    else:
        person_id = f"o311-{uuid.uuid4().hex[:20]}"
    name = filing.name or say(language, "open311.resident", client=key.name)
    return await _new_resident(unit, person_id, name, language)


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
