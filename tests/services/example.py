"""The example directory's people around one case, how to bring a case into each status, where
each action lands (docs/reference.md §4, written out here), and what an allowed action must leave
behind in the tables.

Shared by the service tests; every step goes through the real services.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlmodel import col, select

from bot.services.cases.lifecycle import Request, act
from bot.services.cases.report import NewReport, report
from bot.services.unit.context import Actor, ServiceContext
from core.access import city_actor
from core.cases import Action, Channel, Rating
from db import open311
from db.models import Case, CaseEvent, Open311Key, OutboxMessage

TG = Channel.TELEGRAM
CITY_KEY = "city-jzsj"
ACTORS: dict[str, Actor] = {
    "resident": Actor("r-jzsj-172", TG),  # reported the case
    "manager": Actor("mgr-jzsj-south", TG),  # it is routed to them
    "supervisor": Actor("sup-jzsj-south", TG),  # above that manager
    "staff": Actor("liubo", TG),  # staff of the case's community
    "other_staff": Actor("suxinghua", TG),  # staff of bgy-north
    "other_manager": Actor("mgr-bgy-north", TG),  # bgy-north's manager
    "stranger": Actor("r-bgy-72", Channel.SMS),  # a resident of another community
    "system": Actor.system(),
    "city": Actor(city_actor(CITY_KEY), Channel.OPEN311),  # a city's key for jzsj-south
}
NEW_MANAGER = "sup-jzsj-south"
REQUESTS: dict[str, Request] = {
    "acknowledge": Request(Action.ACKNOWLEDGE),
    "resolve": Request(Action.RESOLVE, note="已清理"),
    "decline": Request(Action.DECLINE, note="不归我们管"),
    "rate_satisfied": Request(Action.RATE, rating=Rating.SATISFIED),
    "rate_basically": Request(Action.RATE, rating=Rating.BASICALLY_SATISFIED),
    "rate_dissatisfied": Request(Action.RATE, rating=Rating.DISSATISFIED, note="快递还在"),
    "reassign": Request(Action.REASSIGN, manager_id=NEW_MANAGER),
    "reject": Request(Action.REJECT, note="不属于社区事务"),
    "close": Request(Action.CLOSE, note="已电话沟通解决"),
    "cancel": Request(Action.CANCEL),
    "escalate": Request(Action.ESCALATE),
    "remind": Request(Action.REMIND),
    "nudge": Request(Action.NUDGE),
    "close_unrated": Request(Action.CLOSE_UNRATED),
    "ask": Request(Action.ASK, note="快递现在还堆在门口吗？"),
    "reopen": Request(Action.REOPEN, note="居民向12345反映仍未清理"),
    "inform": Request(Action.INFORM, note="城管已派人查看"),
}

# How each starting status is reached: (actor, request) steps after the report.
PATHS: dict[str, list[tuple[str, str]]] = {
    "unassigned": [("manager", "decline")],
    "assigned": [],
    "acknowledged": [("manager", "acknowledge")],
    "resolved": [("manager", "acknowledge"), ("manager", "resolve")],
    "closed": [("manager", "acknowledge"), ("manager", "resolve"), ("resident", "rate_satisfied")],
    "cancelled": [("resident", "cancel")],
    "rejected": [("staff", "reject")],
}

# Where an allowed action lands: (status or None for "stays", event kinds, changed fields).
Outcome = tuple[str | None, list[str], dict[str, Any]]
OUTCOMES: dict[str, Outcome] = {
    "acknowledge": ("acknowledged", ["acknowledged"], {}),
    "resolve": ("resolved", ["resolved"], {}),
    "decline": ("unassigned", ["declined"], {"manager_id": None}),
    "rate_satisfied": ("closed", ["rated"], {"rating": "satisfied"}),
    "rate_basically": ("closed", ["rated"], {"rating": "basically_satisfied"}),
    "rate_dissatisfied": (
        "assigned",
        ["rated", "reopened"],
        {"rating": "dissatisfied", "reopen_count": 1, "escalation_level": 1},
    ),
    "reassign": ("assigned", ["reassigned"], {"manager_id": NEW_MANAGER, "escalation_level": 0}),
    "reject": ("rejected", ["rejected"], {}),
    "close": ("closed", ["closed"], {}),
    "cancel": ("cancelled", ["cancelled"], {}),
    "escalate": (None, ["escalated"], {"escalation_level": 1}),
    "remind": (None, ["reminded"], {}),
    "nudge": (None, ["nudged"], {}),
    "close_unrated": ("closed", ["closed_unrated"], {}),
    "ask": (None, ["asked"], {}),  # its status stays; the reporter's next message answers
    # Back to its manager, counted as a reopen, its verdict gone (from closed: it was rated).
    "reopen": ("assigned", ["reopened"], {"reopen_count": 1, "rating": None}),
    "inform": (None, ["informed"], {}),
}

Snapshot = tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]


async def snapshot(ctx: ServiceContext) -> Snapshot:
    """Every case row, every event and every outbox row, in order."""
    async with ctx.db.reading() as session:
        cases = (await session.exec(select(Case).order_by(col(Case.number)))).all()
        events = (await session.exec(select(CaseEvent).order_by(col(CaseEvent.id)))).all()
        outbox = (await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all()
    return (
        [c.model_dump() for c in cases],
        [e.model_dump() for e in events],
        [m.model_dump() for m in outbox],
    )


async def case_in(ctx: ServiceContext, status: str) -> int:
    """A fresh case of r-jzsj-172 in jzsj-south, brought to ``status`` through the services
    (the city's key for jzsj-south made the first time)."""
    async with ctx.db.transaction() as session:
        if await open311.key_by_name(session=session, name=CITY_KEY) is None:
            row = Open311Key(
                name=CITY_KEY, key_hash="0" * 64, communities=["jzsj-south"], created_at=ctx.clock()
            )
            session.add(row)
    case = await report(
        ctx,
        resident_id="r-jzsj-172",
        channel=TG,
        new=NewReport("jzsj-south", "parcels", "快递堆在马路上", location="172号楼"),
    )
    assert case.number is not None
    for who, step in PATHS[status]:
        case = await act(ctx, number=case.number, actor=ACTORS[who], request=REQUESTS[step])
    assert case.status == status
    assert case.number is not None
    return case.number


@dataclass(frozen=True)
class Landed:
    """What an allowed action left behind on its case."""

    number: int
    row: dict[str, Any]  # the case's row after it
    events: list[dict[str, Any]]  # the events it added
    messages: list[dict[str, Any]]  # the outbox rows it added
    superseded: list[dict[str, Any]]  # earlier outbox rows it superseded, as they were before


async def lands(
    ctx: ServiceContext,
    status: str,
    actor: Actor,
    request: Request,
    outcome: Outcome,
    label: object,
    *,
    read: Callable[[ServiceContext], Awaitable[Snapshot]] = snapshot,
) -> Landed:
    """``actor`` takes ``request`` on a fresh case in ``status``, which lands as ``outcome``
    says: its status and fields, and events of exactly those kinds by ``actor``. Other cases and
    earlier events are untouched; earlier messages stay as they were, but for this case's card
    edits not sent yet, which the newer edit supersedes; the action told someone. ``read`` takes
    the tables' snapshots (``label`` names the combination in a failure)."""
    number = await case_in(ctx, status)
    before_cases, before_events, before_outbox = await read(ctx)
    start = next(c for c in before_cases if c["number"] == number)
    returned = await act(ctx, number=number, actor=actor, request=request)
    cases, events, outbox = await read(ctx)
    row = next(c for c in cases if c["number"] == number)
    target, kinds, changes = outcome
    assert returned.status == row["status"] == (target or status), label
    for name in ("manager_id", "escalation_level", "reopen_count", "rating"):
        assert row[name] == changes.get(name, start[name]), (label, name)
    assert [c for c in cases if c["number"] != number] == [
        c for c in before_cases if c["number"] != number
    ], label
    assert events[: len(before_events)] == before_events, label
    added = events[len(before_events) :]
    assert [(e["kind"], e["actor_id"], e["channel"]) for e in added] == [
        (kind, actor.person_id, actor.channel) for kind in kinds
    ], label
    superseded = []
    for now_row, then in zip(outbox, before_outbox, strict=False):
        if now_row["status"] == "superseded" != then["status"]:
            assert (then["status"], then["case_number"]) == ("pending", number), label
            superseded.append(then)
            now_row = {**now_row, "status": then["status"], "last_error": then["last_error"]}
        assert now_row == then, label
    messages = outbox[len(before_outbox) :]
    assert messages, label
    return Landed(number, row, added, messages, superseded)
