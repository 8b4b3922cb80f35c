"""The example directory's people around one case, and how to bring a case into each status.

Shared by the service tests; every step goes through the real services.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from bot.services.cases.lifecycle import Request, act
from bot.services.cases.report import NewReport, report
from bot.services.unit.context import Actor, ServiceContext
from core.cases import Action, Channel, Rating
from db.models import Case, CaseEvent, OutboxMessage

TG = Channel.TELEGRAM
ACTORS: dict[str, Actor] = {
    "resident": Actor("r-jzsj-172", TG),  # reported the case
    "manager": Actor("mgr-jzsj-south", TG),  # it is routed to them
    "supervisor": Actor("sup-jzsj-south", TG),  # above that manager
    "staff": Actor("liubo", TG),  # staff of the case's community
    "other_staff": Actor("suxinghua", TG),  # staff of bgy-north
    "other_manager": Actor("mgr-bgy-north", TG),  # bgy-north's manager
    "stranger": Actor("r-bgy-72", Channel.SMS),  # a resident of another community
    "system": Actor.system(),
}
NEW_MANAGER = "mgr-jzsj-north"
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
    """A fresh case of r-jzsj-172 in jzsj-south, brought to ``status`` through the services."""
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
