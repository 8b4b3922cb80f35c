"""Who is writing: a channel address resolved to a person (a stranger becomes a resident), and
binding an address to a person (an invite, the directory) — the one lookup behind every channel."""

from __future__ import annotations

from collections.abc import Callable

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.unit.context import Unit
from bot.services.unit.inbound import Inbound
from bot.services.unit.traits import ChannelBook
from core.texts import normalize_language
from db import queries
from db.models import Case, Identity, Person


async def sender_of(unit: Unit, inbound: Inbound) -> Person:
    """The person at ``inbound``'s address, made a resident on first contact; hearing from them
    there makes the address reachable again, and gives them a language when they had none."""
    session = unit.session
    found = await queries.person_at(
        session=session, channel=inbound.channel, address=inbound.address
    )
    if found is None:
        person = stranger(unit.channels, inbound)
        session.add(person)
        await session.flush()
        await bind(unit, person, channel=inbound.channel, address=inbound.address)
        return person
    person, identity = found
    if not identity.reachable:
        identity.reachable, identity.updated_at = True, unit.now
        session.add(identity)
        unit.outbox.forget(person.id)
    language = spoken_language(person, inbound)
    if language != person.language:
        person.language = language
        session.add(person)
    return person


def stranger(book: ChannelBook, inbound: Inbound, make: Callable[..., Person] = Person) -> Person:
    """The resident a first message from an unknown address makes (not stored yet); ``make``
    builds the row (the hot path's untracked rows: ``db/rows.py``)."""
    return make(
        id=book.resident_id(inbound.channel, inbound.address),
        name=(inbound.name or inbound.address)[:100],
        role="resident",
        language=normalize_language(inbound.wrote_in or inbound.language),
        source=inbound.channel,
    )


def spoken_language(person: Person, inbound: Inbound) -> str | None:
    """The language a known sender is answered in after this message."""
    told = None if inbound.language_guessed else normalize_language(inbound.language)
    language = person.language or told
    if person.source != "directory" and normalize_language(inbound.wrote_in):
        # Met on a channel: answered in the language they last wrote in.
        language = normalize_language(inbound.wrote_in)
    return language


async def bind(
    unit: Unit, person: Person, *, channel: str, address: str, source: str | None = None
) -> Identity:
    """Make ``address`` on ``channel`` this person's (reachable). Whoever held it before gives it
    up; a resident met on a channel hands their cases over and is retired."""
    session = unit.session
    query = select(Identity).where(Identity.channel == channel, Identity.address == address)
    holder = (await session.exec(query)).first()
    if holder is not None and holder.person_id != person.id:
        stray = await queries.get_person(session=session, person_id=holder.person_id)
        if stray is not None and stray.active:
            await _hand_over(session, stray, person)
        await session.delete(holder)
        await session.flush()
        unit.outbox.forget(holder.person_id)
    identity = await queries.identity_of(session=session, person_id=person.id, channel=channel)
    if identity is None:
        identity = Identity(
            person_id=person.id,
            channel=channel,
            address=address,
            source=source or person.source,
            updated_at=unit.now,
        )
    identity.address, identity.reachable, identity.updated_at = address, True, unit.now
    session.add(identity)
    await session.flush()
    unit.outbox.forget(person.id)
    return identity


async def _hand_over(session: AsyncSession, stray: Person, person: Person) -> None:
    """A resident made for a chat or a phone turns out to be ``person``: their cases move over
    and the stray record is retired (a directory person keeps their record, minus the address)."""
    if stray.source == "directory":
        return
    for case in (await session.exec(select(Case).where(Case.resident_id == stray.id))).all():
        case.resident_id = person.id
        session.add(case)
    stray.active = False
    session.add(stray)


async def mark_unreachable(session: AsyncSession, *, person_id: str, channel: str) -> bool:
    """The channel says ``person_id`` cannot be reached there (blocked, gone); True if changed."""
    identity = await queries.identity_of(session=session, person_id=person_id, channel=channel)
    if identity is None or not identity.reachable:
        return False
    identity.reachable = False
    session.add(identity)
    return True
