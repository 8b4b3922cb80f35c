"""The end of every hot path: ``report.open_case`` for the writer — the case, its events, who
hears of it and every outbox row, inserted in a few Core statements in the writer's next group
commit. It decides nothing of its own: the admission rule, the route, the policy, the rows and
who is told are the general path's own functions."""

from __future__ import annotations

from collections import ChainMap
from typing import Any, cast

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.cases.announce import told
from bot.services.cases.parties import Parties
from bot.services.cases.report import (
    CUT_NOTICE,
    NewReport,
    Opened,
    admissible,
    manager_for,
    new_case,
    report_events,
)
from bot.services.cases.routing import Policy, policy_of
from bot.services.cases.scene import Scene
from bot.services.intake.arrival import Arrival, NotHot
from bot.services.intake.rows import BY_DIALECT, make, table, values
from bot.services.unit.context import ServiceRefusal
from bot.services.unit.outbox import Outbox
from db.directory_cache import DirectorySnapshot
from db.models import Case, CaseEvent, Identity, OutboxMessage, Person
from db.models.rollup import add_cases
from db.queries import insert_ignoring
from db.statements import execute, execute_many

# compose() reads no session: the hot path's outbox only makes rows for one Core insert.
_NO_SESSION = cast(AsyncSession, None)


def open_report(
    conn: Connection, memo: dict[str, Any], came: Arrival, person: Person, new_report: NewReport
) -> list[OutboxMessage]:
    """``report.open_case`` for the writer: the case, its events, who hears of it and every
    outbox row (inserted in one statement); the rows made. Both hot paths end here."""
    snapshot, inbound, now = came.snapshot, came.inbound, came.now
    community = snapshot.communities.get(new_report.community_id)
    category = snapshot.categories.get(new_report.category_id)
    if new_report.photos or new_report.photos_refused:
        raise NotHot()  # the general path keeps them (and says what was refused)
    try:
        admitted = admissible(new_report, community, category, person)
    except ServiceRefusal:
        raise NotHot() from None  # the general path refuses it, and says why
    description, cut = admitted.description, admitted.cut
    community, category = admitted.community, admitted.category
    policy, manager_id = _route(snapshot, community.id, category.id)
    opened = Opened(community, category, person.id, inbound.channel)
    case = new_case(now, opened, new_report, description, policy, manager_id, make(Case))
    [(case.number,)] = execute(conn, _CASE_INSERT, values(case, "number"))
    add_cases(conn, [case])  # its share of the rates: the Core insert passes the ORM's hook by
    events = report_events(case, make(CaseEvent))
    for event in events:
        [(event.id,)] = execute(conn, _EVENT_INSERT, values(event, "id"))
    parties, known = _parties(conn, memo, snapshot, case, person)
    outbox = Outbox(_NO_SESSION, now, came.default_language, came.book, inbound, person.id)
    outbox.make = make(OutboxMessage)
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
        execute_many(conn, _outbox_insert(conn.dialect.name), [values(r, "id") for r in rows])
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
    # The resident first: a manager reporting is the resident too, as on the general path.
    everyone = ChainMap({resident.id: resident}, people)
    parties = Parties.of(case, everyone, supervisor_ids, staff_ids)
    return parties, known


def _outbox_insert(dialect: str) -> Any:
    """The outbox rows' multi-row insert (a key queued before is left alone)."""
    key = ("outbox", dialect)
    if key not in BY_DIALECT:
        statement = insert_ignoring(dialect, OutboxMessage)
        BY_DIALECT[key] = statement.on_conflict_do_nothing(index_elements=["idempotency_key"])
    return BY_DIALECT[key]


_CASE_INSERT = table(Case).insert().returning(col(Case.number))
_EVENT_INSERT = table(CaseEvent).insert().returning(col(CaseEvent.id), sort_by_parameter_order=True)
_PEOPLE_IN = select(table(Person)).where(col(Person.id).in_(bindparam("ids", expanding=True)))
_IDENTITIES_IN = (
    select(table(Identity))
    .where(col(Identity.person_id).in_(bindparam("ids", expanding=True)))
    .order_by(col(Identity.id))
)
# The snapshot the writer's thread last worked from, and what follows from it (``_route``).
_PER_SNAPSHOT: list[Any] = [None, {}]
