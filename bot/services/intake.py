"""The hot path of a report: a text to a community's number (SMS) becomes a case in a few Core
statements, run by the single writer (``db/writer.py``) in its next group commit. The guided
Telegram report's confirm press (``intake_telegram``) ends in the same ``open_report``.

It decides nothing of its own: the receipt statement, the stranger, the language, the limits,
the category, the route, the policy, the case row, its events, who hears of it and each outbox
row come from the functions the general path uses too. Whatever it does not take — a replay, a
sender with a draft in progress, a retired or unknown address holder, a sender past a limit, a
number that is no community's, a directory changed since this process read it — raises
``NotHot`` inside the unit, its savepoint rolls back, and the message takes the general path
(``messages.message``), which handles every case.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, TypeVar, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel, col
from sqlmodel.ext.asyncio.session import AsyncSession

from core.clean import cap, clean, describes
from core.sms_text import as_sms
from db.directory_cache import VERSION_KEY, DirectorySnapshot
from db.models import Case, CaseEvent, Draft, Identity, OutboxMessage, Person, Setting
from db.queries import insert_ignoring, receipt_statement
from db.rows import detached
from db.statements import batch_memo, execute, execute_many

from . import limits
from .announce import Scene, told
from .channels import ChannelBook
from .context import ServiceContext
from .drafts import chat_key
from .identities import spoken_language, stranger
from .inbound import Inbound
from .levels import Policy, policy_of
from .limits import SenderLimits
from .notify import Outbox
from .parties import Parties
from .report import CUT_NOTICE, NewReport, Opened, category_in, manager_for, new_case, report_events

M = TypeVar("M", bound=SQLModel)
# compose() reads no session: the hot path's outbox only makes rows for one Core insert.
_NO_SESSION = cast(AsyncSession, None)


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


@dataclass(frozen=True, slots=True)
class SmsReport:
    """One SMS report for the writer."""

    arrival: Arrival
    text: str  # cleaned
    to: str


def job_for(ctx: ServiceContext, inbound: Inbound, text: str, to: str) -> SmsReport:
    """The writer's job for one SMS report; ``NotHot`` when it plainly cannot be one."""
    job = arrival(ctx, inbound)
    text = clean(text)
    if not describes(text) or job.snapshot.community_by_number(to) is None:
        raise NotHot()
    return SmsReport(job, text, to)


async def sms_report(ctx: ServiceContext, inbound: Inbound, text: str, to: str) -> list[str]:
    """File an SMS report through the writer; the answer's texts once it is committed (or
    ``NotHot``: nothing written, the general path takes it)."""
    job = job_for(ctx, inbound, text, to)
    rows = await ctx.db.write(partial(write_sms_report, job=job))
    return [as_sms(row.text, row.button_rows(), row.language) for row in rows]


def write_sms_report(conn: Connection, job: SmsReport) -> list[OutboxMessage]:
    """Open the case an SMS report asks for; the rows that answer it (sent in the reply)."""
    came = job.arrival
    memo = admit(conn, came)
    person, new = _sender(conn, came)
    within_limits(conn, came, person, new=new)
    community = came.snapshot.community_by_number(job.to)
    category = came.snapshot.categories.get(category_in(came.snapshot, job.text))
    if community is None or category is None:
        raise NotHot()
    rows = open_report(conn, memo, came, person, NewReport(community.id, category.id, job.text))
    inbound = came.inbound
    return [r for r in rows if r.reply_to == inbound.key and r.channel == inbound.channel]


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


def open_report(
    conn: Connection, memo: dict[str, Any], came: Arrival, person: Person, new_report: NewReport
) -> list[OutboxMessage]:
    """``report.open_case`` for the writer: the case, its events, who hears of it and every
    outbox row (inserted in one statement); the rows made. Both hot paths end here."""
    snapshot, inbound, now = came.snapshot, came.inbound, came.now
    community = snapshot.communities.get(new_report.community_id)
    category = snapshot.categories.get(new_report.category_id)
    if community is None or not community.active or category is None or not category.active:
        raise NotHot()  # the general path refuses it, and says why
    if new_report.photos or new_report.photos_refused:
        raise NotHot()  # the general path keeps them (and says what was refused)
    description, cut = cap(clean(new_report.description), new_report.limit)
    if not description:
        raise NotHot()
    policy, manager_id = _route(snapshot, community.id, category.id)
    opened = Opened(community, category, person.id, inbound.channel)
    case = new_case(now, opened, new_report, description, policy, manager_id, _make(Case))
    [(case.number,)] = execute(conn, _CASE_INSERT, _values(case, "number"))
    events = report_events(case, _make(CaseEvent))
    for event in events:
        [(event.id,)] = execute(conn, _EVENT_INSERT, _values(event, "id"))
    parties, known = _parties(conn, memo, snapshot, case, person)
    outbox = Outbox(_NO_SESSION, now, came.default_language, came.book, inbound, person.id)
    outbox.make = _make(OutboxMessage)
    outbox.learn(known.keys(), known)
    rows: list[OutboxMessage] = []
    if cut:
        notice = outbox.compose(
            person, CUT_NOTICE, key=f"reply:{inbound.key}", params={"limit": new_report.limit}
        )
        rows += [notice] if notice is not None else []
    scene = Scene(case, community, category, policy.tz, policy.chain, policy.levels.urgent)
    for one in told(scene, events, before=None, after=parties):
        row = outbox.compose(
            one.person,
            one.template,
            key=one.key,
            case=case,
            params=one.params,
            buttons=one.buttons,
            urgent=one.urgent,
        )
        rows += [row] if row is not None else []
    if rows:
        execute_many(conn, _outbox_insert(conn.dialect.name), [_values(r, "id") for r in rows])
    return rows


def _route(
    snapshot: DirectorySnapshot, community_id: str, category_id: str
) -> tuple[Policy, str | None]:
    """The category's policy and the routed manager: what follows from the directory alone,
    worked out once per snapshot by the general path's own functions (``policy_of``,
    ``manager_for``), not once per report."""
    if _PER_SNAPSHOT[0] is not snapshot:
        _PER_SNAPSHOT[:] = [snapshot, {}]  # a directory loaded since: start afresh
    memo: dict[tuple[str, str], tuple[Policy, str | None]] = _PER_SNAPSHOT[1]
    key = (community_id, category_id)
    if key not in memo:
        memo[key] = (
            policy_of(snapshot, category_id),
            manager_for(snapshot, community_id, category_id),
        )
    return memo[key]


def _sender(conn: Connection, came: Arrival) -> tuple[Person, bool]:
    """The sender, and whether they are new: made a resident on first contact as
    ``identities.sender_of`` does. A sender with a draft in progress is not for here."""
    inbound, now = came.inbound, came.now
    person = known_sender(conn, came)
    if person is not None:
        if execute(conn, _DRAFT_AT, {"chat": chat_key(inbound.channel, person.id)}):
            raise NotHot()  # a question waits for this message
        return person, False
    person = stranger(came.book, inbound, _make(Person))
    if not execute(conn, _person_insert(conn.dialect.name), _values(person)):
        raise NotHot()  # a retired record with this id: the general path binds it
    identity = detached(
        Identity,
        person_id=person.id,
        channel=inbound.channel,
        address=inbound.address,
        source=person.source,
        updated_at=now,
    )
    execute(conn, _IDENTITY_INSERT, _values(identity, "id"))
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


def _parties(
    conn: Connection,
    memo: dict[str, Any],
    snapshot: DirectorySnapshot,
    case: Case,
    resident: Person,
) -> tuple[Parties, dict[str, list[Identity]]]:
    """``parties.load_parties`` for a new case, and everyone's addresses. The people other than
    the resident (managers, supervisors, staff: the hot path changes none of them) are read once
    per batch."""
    supervisor_ids = snapshot.supervisor_chain(case.manager_id)
    staff_ids = list(snapshot.staff.get(case.community_id, ()))
    others = {*([case.manager_id] if case.manager_id else []), *supervisor_ids, *staff_ids}
    others.discard(resident.id)
    people: dict[str, Person] = memo.setdefault("people", {})
    addresses: dict[str, list[Identity]] = memo.setdefault("identities", {})
    missing = sorted(others - people.keys())
    if missing:
        for row in conn.execute(_PEOPLE_IN, {"ids": missing}):
            people[row.id] = Person(**row._mapping)
        for i in missing:
            addresses[i] = []
        for row in conn.execute(_IDENTITIES_IN, {"ids": missing}):
            addresses[row.person_id].append(Identity(**row._mapping))
    known = {i: addresses[i] for i in others}
    known[resident.id] = []  # the resident is answered where they wrote, not reached
    parties = Parties(
        resident=resident,
        manager=people.get(case.manager_id) if case.manager_id else None,
        supervisors=tuple(people[i] for i in supervisor_ids if i in people),
        staff=tuple(people[i] for i in staff_ids if i in people),
    )
    return parties, known


def _values(row: SQLModel, *skip: str) -> dict[str, Any]:
    """A model's column values for a Core insert (its generated key left to the database)."""
    names = _COLUMNS[type(row)]
    state = vars(row)  # the loaded attributes, read without pydantic's dump (a third of it)
    return {k: state.get(k) for k in names if k not in skip}


def _make(model: type[M]) -> Callable[..., M]:
    """How the hot path builds a ``model`` row: untracked, its values only (``db/rows.py``)."""
    return partial(detached, model)


def _table(model: type[SQLModel]) -> Table:
    """A model's table."""
    return cast(Table, model.__table__)  # type: ignore[attr-defined]


# The statements, built once: executing a built statement skips building and keying it again.
_UNREAD = object()
_VERSION = select(col(Setting.value)).where(col(Setting.key) == VERSION_KEY)
_IDENTITY_AT = select(_table(Identity)).where(
    col(Identity.channel) == bindparam("channel"), col(Identity.address) == bindparam("address")
)
_PERSON_BY_ID = select(_table(Person)).where(col(Person.id) == bindparam("id"))
_DRAFT_AT = select(col(Draft.chat)).where(col(Draft.chat) == bindparam("chat"))
_IDENTITY_INSERT = _table(Identity).insert()
_CASE_INSERT = _table(Case).insert().returning(col(Case.number))
_EVENT_INSERT = (
    _table(CaseEvent).insert().returning(col(CaseEvent.id), sort_by_parameter_order=True)
)
_PEOPLE_IN = select(_table(Person)).where(col(Person.id).in_(bindparam("ids", expanding=True)))
_IDENTITIES_IN = (
    select(_table(Identity))
    .where(col(Identity.person_id).in_(bindparam("ids", expanding=True)))
    .order_by(col(Identity.id))
)
_BY_DIALECT: dict[tuple[str, str], Any] = {}
# The snapshot the writer's thread last worked from, and what follows from it (``_route``).
_PER_SNAPSHOT: list[Any] = [None, {}]
_COLUMNS: dict[type[SQLModel], tuple[str, ...]] = {
    m: tuple(_table(m).columns.keys()) for m in (Person, Identity, Case, CaseEvent, OutboxMessage)
}
_PERSON_COLUMNS, _IDENTITY_COLUMNS = _COLUMNS[Person], _COLUMNS[Identity]


def _person_insert(dialect: str) -> Any:
    """A new person's ``INSERT … ON CONFLICT DO NOTHING RETURNING id``."""
    key = ("person", dialect)
    if key not in _BY_DIALECT:
        statement = insert_ignoring(dialect, Person).on_conflict_do_nothing()
        _BY_DIALECT[key] = statement.returning(col(Person.id))
    return _BY_DIALECT[key]


def _outbox_insert(dialect: str) -> Any:
    """The outbox rows' multi-row insert (a key queued before is left alone)."""
    key = ("outbox", dialect)
    if key not in _BY_DIALECT:
        statement = insert_ignoring(dialect, OutboxMessage)
        _BY_DIALECT[key] = statement.on_conflict_do_nothing(index_elements=["idempotency_key"])
    return _BY_DIALECT[key]
