"""The happy path: report, acknowledge, resolve, rate — state, events and outbox."""

from __future__ import annotations

from sqlmodel import col, select

from bot.services.cases import lifecycle
from bot.services.cases.report import NewReport, report
from bot.services.unit.context import Actor, ServiceContext
from core.cases import Channel, Rating
from db.models import CaseEvent, OutboxMessage


async def test_report_to_rating(loaded: ServiceContext) -> None:
    ctx = loaded
    resident = Actor("r-jzsj-172", Channel.TELEGRAM)
    manager = Actor("mgr-jzsj-south", Channel.TELEGRAM)
    case = await report(
        ctx,
        resident_id="r-jzsj-172",
        channel=Channel.TELEGRAM,
        new=NewReport("jzsj-south", "parcels", "快递堆在马路上", location="172号楼"),
    )
    assert case.status == "assigned"
    assert case.manager_id == "mgr-jzsj-south"
    assert case.number is not None
    await lifecycle.acknowledge(ctx, number=case.number, actor=manager)
    await lifecycle.resolve(ctx, number=case.number, actor=manager)
    done = await lifecycle.rate(ctx, number=case.number, actor=resident, rating=Rating.SATISFIED)
    assert done.status == "closed"
    async with ctx.db.reading() as session:
        kinds = (await session.exec(select(CaseEvent.kind).order_by(col(CaseEvent.id)))).all()
        outbox = (
            await session.exec(
                select(OutboxMessage)
                .where(col(OutboxMessage.edit_of).is_(None))
                .order_by(col(OutboxMessage.id))
            )
        ).all()
    assert list(kinds) == ["reported", "routed", "acknowledged", "resolved", "rated"]
    assert [m.template for m in outbox] == [
        "case.received",
        "case.card",
        "case.acknowledged",
        "case.resolved",
        "case.rated",
        "case.closed",
    ]
