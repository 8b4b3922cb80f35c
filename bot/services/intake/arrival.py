"""Where every hot path starts: the message as the writer sees it (``Arrival``), its receipt and
the directory's version checked (``admit``), the sender as the general path would leave them, and
the limits. Whatever is not for the hot path raises ``NotHot``: the unit's savepoint rolls back
and the general path takes the message."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection
from sqlmodel import col

from bot.services.intake.rows import BY_DIALECT, COLUMNS, make, table, values
from bot.services.talk.drafts import chat_key
from bot.services.unit import limits
from bot.services.unit.context import SenderLimits, ServiceContext
from bot.services.unit.identities import spoken_language, stranger
from bot.services.unit.inbound import Inbound
from bot.services.unit.traits import ChannelBook
from db.directory_cache import VERSION_KEY, DirectorySnapshot
from db.models import Case, Draft, Identity, Person, Setting
from db.queries import insert_ignoring, receipt_statement
from db.rows import detached
from db.statements import batch_memo, execute


class NotHot(Exception):
    """This message takes the general path; the hot path wrote nothing of it."""


@dataclass(frozen=True, slots=True)
class Arrival:
    """What every hot path's unit works from: the message, its moment, this process's settings
    and directory snapshot — plain values, read in the writer's thread."""

    inbound: Inbound
    now: datetime
    default_language: str
    book: ChannelBook
    limits: SenderLimits
    snapshot: DirectorySnapshot


def arrival(ctx: ServiceContext, inbound: Inbound) -> Arrival:
    """The writer's view of ``inbound``; ``NotHot`` without a directory in memory, or when the
    answer would not go back where they wrote (a channel that does not send)."""
    cache = ctx.db.directory_cache
    snapshot = cache.snapshot if cache is not None else None
    if snapshot is None or inbound.channel not in ctx.channels.reach_order:
        raise NotHot()
    return Arrival(inbound, ctx.clock(), ctx.default_language, ctx.channels, ctx.limits, snapshot)


def admit(conn: Connection, came: Arrival) -> dict[str, Any]:
    """The batch's memo, once the directory is known to be this process's snapshot and the
    message's receipt is recorded (``NotHot``: a directory loaded since, or a replay)."""
    memo = batch_memo(conn)
    if memo.get("version", _UNREAD) is _UNREAD:
        stored = execute(conn, _VERSION)
        memo["version"] = str(stored[0][0]) if stored and stored[0][0] is not None else None
    if memo["version"] != came.snapshot.version:
        raise NotHot()  # the general path reads the directory again
    inbound = came.inbound
    receipt = {
        "source": inbound.channel,
        "external_id": inbound.external_id,
        "received_at": came.now,
        "sender": inbound.address,
    }
    if not execute(conn, receipt_statement(conn.dialect.name), receipt):
        raise NotHot()  # a replay: the general path answers it again
    return memo


def within_limits(conn: Connection, came: Arrival, person: Person, *, new: bool) -> None:
    """The unit of work's message limit and ``open_case``'s case limit (``NotHot`` past either:
    the general path sends the notice)."""
    if not limits.applies_to(person):
        return
    inbound, now = came.inbound, came.now
    since = now - came.limits.message_window
    params = limits.messages_params(inbound.channel, inbound.address, since)
    [(messages,)] = execute(conn, limits.MESSAGES_SINCE, params)
    if limits.over_messages(int(messages), came.limits):
        raise NotHot()
    # A resident made just now has opened nothing (ids are never reused).
    if not new:
        params = {"person_id": person.id, "since": now - came.limits.case_window}
        [(count,)] = execute(conn, limits.CASES_SINCE, params)
        if limits.at_case_limit(int(count), came.limits):
            raise NotHot()


def sender_of(conn: Connection, came: Arrival) -> tuple[Person, bool]:
    """The sender, and whether they are new: made a resident on first contact as
    ``identities.sender_of`` does. A sender with a draft in progress is not for here."""
    inbound, now = came.inbound, came.now
    person = known_sender(conn, came)
    if person is not None:
        if execute(conn, _DRAFT_AT, {"chat": chat_key(inbound.channel, person.id)}):
            raise NotHot()  # a question waits for this message
        if execute(conn, _ASKED_OF, {"id": person.id}):
            raise NotHot()  # a question about their case waits for their next message
        return person, False
    person = stranger(came.book, inbound, make(Person))
    if not execute(conn, person_insert(conn.dialect.name), values(person)):
        raise NotHot()  # a retired record with this id: the general path binds it
    identity = detached(
        Identity,
        person_id=person.id,
        channel=inbound.channel,
        address=inbound.address,
        source=person.source,
        updated_at=now,
    )
    execute(conn, _IDENTITY_INSERT, values(identity, "id"))
    return person, True


def known_sender(conn: Connection, came: Arrival) -> Person | None:
    """The person at the inbound's address as ``identities.sender_of`` leaves them (reachable
    there again, their language), or None when nobody holds it. An address held by a retired
    person (a hand-over) is not for here."""
    inbound, now = came.inbound, came.now
    where = {"channel": inbound.channel, "address": inbound.address}
    identities = execute(conn, _IDENTITY_AT, where)
    if not identities:
        return None
    found = detached(Identity, **dict(zip(_IDENTITY_COLUMNS, identities[0], strict=True)))
    people = execute(conn, _PERSON_BY_ID, {"id": found.person_id})
    if not people:
        raise NotHot()
    person = detached(Person, **dict(zip(_PERSON_COLUMNS, people[0], strict=True)))
    if not person.active:
        raise NotHot()
    if not found.reachable:
        reachable = update(Identity).where(col(Identity.id) == found.id)
        conn.execute(reachable.values(reachable=True, updated_at=now))
    language = spoken_language(person, inbound)
    if language != person.language:
        said = update(Person).where(col(Person.id) == person.id).values(language=language)
        conn.execute(said)
        person.language = language
    return person


def person_insert(dialect: str) -> Any:
    """A new person's ``INSERT … ON CONFLICT DO NOTHING RETURNING id``."""
    key = ("person", dialect)
    if key not in BY_DIALECT:
        statement = insert_ignoring(dialect, Person).on_conflict_do_nothing()
        BY_DIALECT[key] = statement.returning(col(Person.id))
    return BY_DIALECT[key]


_UNREAD = object()
_VERSION = select(col(Setting.value)).where(col(Setting.key) == VERSION_KEY)
_IDENTITY_AT = select(table(Identity)).where(
    col(Identity.channel) == bindparam("channel"), col(Identity.address) == bindparam("address")
)
_PERSON_BY_ID = select(table(Person)).where(col(Person.id) == bindparam("id"))
_DRAFT_AT = select(col(Draft.chat)).where(col(Draft.chat) == bindparam("chat"))
# Their own cases (few, by ix_cases_resident_id) with a question waiting (``cases.inquiry``).
_ASKED_OF = (
    select(col(Case.number))
    .where(col(Case.resident_id) == bindparam("id"), col(Case.asked_by).is_not(None))
    .limit(1)
)
_IDENTITY_INSERT = table(Identity).insert()
_PERSON_COLUMNS, _IDENTITY_COLUMNS = COLUMNS[Person], COLUMNS[Identity]
