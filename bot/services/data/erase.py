"""Erasing a person on request (PIPL art. 47, GDPR art. 17): their addresses, name, photos,
drafts, receipts and sign-ins go; the records that stay (cases, events, messages) name them by an
opaque id and keep no phone, chat id or name of theirs. A STOP of their phone stays honoured."""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass

from sqlmodel import col, delete, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.data import audit, follows
from bot.services.data.held import DIRECTORY, ERASED, Held, erase_refusal, held_about
from bot.services.data.records import Seen, contact_phones, rewrite_records, seen_messages
from bot.services.data.scrub import scrubber
from bot.services.unit.context import Actor, ServiceContext, ServiceRefusal, Unit
from bot.services.unit.work import unit_of_work
from db import directory_cache
from db.models import (
    CommunityStaff,
    ConsoleLogin,
    ConsoleSession,
    Draft,
    InboundReceipt,
    Invite,
    OptOut,
    Person,
    RoutingRule,
)

ERASED_PREFIX = "erased-"
ERASED_SOURCE = ERASED  # the source of the record an erased person leaves


@dataclass(frozen=True, slots=True)
class Erased:
    """What an erase did: the person's new id, and counts (never what was erased)."""

    person_id: str
    cases: int  # cases they reported: kept, without them
    identities: int  # addresses deleted
    photos: int  # photos of their cases deleted
    messages: int  # messages to them cleaned (text, address)
    cancelled: int  # messages to them still waiting: never sent
    drafts: int
    receipts: int  # inbound messages' receipts from their addresses
    sign_ins: int  # invites, console sign-in links and sessions
    follows: int  # their follows of other residents' cases
    opt_outs_kept: int  # their phones' STOP, still honoured

    def counts(self) -> dict[str, int]:
        """The counts alone (an audit row's detail)."""
        return {k: v for k, v in asdict(self).items() if isinstance(v, int)}


def is_erased(person_id: str | None) -> bool:
    """True for the id an erase gave someone (a case's reporter, an event's actor)."""
    return person_id is not None and person_id.startswith(ERASED_PREFIX)


async def erase_person(ctx: ServiceContext, person_id: str, *, actor: Actor) -> Erased:
    """Erase ``person_id``'s personal data everywhere, in one transaction, with its audit row.
    Refused (``ServiceRefusal``) for no such person, one erased before, or one the directory
    lists (remove them from the directory first)."""
    seen = await read_ahead(ctx, person_id)
    async with unit_of_work(ctx) as unit:
        erased = await wipe(unit, person_id, seen=seen)
        await audit.record(
            unit, kind="erase", person=erased.person_id, actor=actor, detail=erased.counts()
        )
    return erased


async def anonymise_in(unit: Unit, person_id: str, *, seen: Seen | None = None) -> str:
    """The erase done inside the caller's unit of work (retention's anonymisation of reporters);
    the person's new id. Refused as ``erase_person`` is. The caller's rows of this person (their
    ``Person``, cases, messages) are changed in the same session, so read them again after.
    ``seen``: ``read_ahead`` before the unit began, which keeps a write on SQLite short."""
    return (await wipe(unit, person_id, seen=seen)).person_id


async def read_ahead(ctx: ServiceContext, person_id: str) -> Seen | None:
    """On SQLite, the messages to ``person_id`` read before the erase's write (a read takes no
    write turn): the write then reads only those and the newer ones, not the whole outbox. None
    on PostgreSQL (its writers do not wait on each other, and its ids are not in commit order)."""
    if not ctx.db.is_sqlite:
        return None
    async with ctx.db.reading() as session:
        held = await held_about(session, person_id)
        if held is None:
            return None
        return await seen_messages(session, held.ids, held.addresses)


async def wipe(unit: Unit, person_id: str, *, seen: Seen | None = None) -> Erased:
    """The erase itself, in ``unit``."""
    session = unit.session
    held = await held_about(session, person_id, lock=True)
    if held is None:
        raise ServiceRefusal("refused.unknown_person", {"person": person_id})
    person = held.person
    refused = erase_refusal(
        person_id=person_id, name=person.name, source=person.source, active=person.active
    )
    if refused is not None:
        raise refused
    new_id = ERASED_PREFIX + secrets.token_hex(8)
    ids, addresses = list(held.ids), list(held.addresses)
    # The phones a client gave as their contact are taken out of their records' texts too (they
    # may be someone else's address: nothing else is done with them).
    contacts = await contact_phones(session, ids)
    scrub = scrubber(new_id=new_id, ids=ids, addresses=[*addresses, *contacts], names=held.names)
    # Before the records are rewritten: their follows are found by the ids the events still hold.
    followed = await follows.erase(session, ids)
    rewritten = await rewrite_records(session, ids=ids, addresses=addresses, scrub=scrub, seen=seen)
    drafts = await _count_deleted(
        session,
        delete(Draft).where(
            or_(
                col(Draft.person_id).in_(ids),
                col(Draft.chat).in_([f"{i.channel}:{i.address}" for i in held.identities]),
            )
        ),
    )
    receipts = await _count_deleted(
        session, delete(InboundReceipt).where(col(InboundReceipt.sender).in_(addresses))
    )
    sign_ins = 0
    for table in (Invite, ConsoleLogin, ConsoleSession):
        sign_ins += await _count_deleted(
            session,
            delete(table).where(col(table.person_id).in_(ids)),
        )
    await _leave_tombstone(unit, held, new_id)
    await audit.renamed(unit, ids, new_id)
    kept = await session.exec(select(OptOut.phone).where(col(OptOut.phone).in_(held.phones)))
    return Erased(
        person_id=new_id,
        cases=rewritten.cases,
        identities=len(held.identities),
        photos=rewritten.photos,
        messages=rewritten.messages,
        cancelled=rewritten.cancelled,
        drafts=drafts,
        receipts=receipts,
        sign_ins=sign_ins,
        follows=followed,
        opt_outs_kept=len(kept.all()),
    )


async def _count_deleted(session: AsyncSession, statement: object) -> int:
    """Run a DELETE; how many rows went."""
    done = await session.exec(statement)  # type: ignore[call-overload]
    return int(done.rowcount or 0)


async def _leave_tombstone(unit: Unit, held: Held, new_id: str) -> None:
    """Their identities and records go; one inactive record without name or address stays under
    the new id, for the cases that name it. A former member of the directory is renamed in its
    links too, and every process reads the directory again."""
    session = unit.session
    person = held.person
    for identity in held.identities:
        await session.delete(identity)
    tombstone = Person(
        id=new_id,
        name="",
        role=person.role,
        language=None,
        active=False,
        source=ERASED_SOURCE,
    )
    for record in held.people:
        await session.delete(record)
        unit.outbox.forget(record.id)
    await session.flush()  # the old rows go before the new one comes (no address left behind)
    session.add(tombstone)
    if person.source == DIRECTORY:
        await _rename_links(session, person.id, new_id)
        await directory_cache.new_version(session)
    await session.flush()


async def _rename_links(session: AsyncSession, old_id: str, new_id: str) -> None:
    """The directory's links to a retired member: whom people report to, staff lists, routes."""
    for row in (await session.exec(select(Person).where(Person.supervisor_id == old_id))).all():
        row.supervisor_id = new_id
        session.add(row)
    staff = await session.exec(select(CommunityStaff).where(CommunityStaff.person_id == old_id))
    for link in staff.all():
        await session.delete(link)  # a retired member is on no staff list a load would keep
    for rule in await session.exec(select(RoutingRule).where(RoutingRule.manager_id == old_id)):
        rule.manager_id = new_id
        session.add(rule)
