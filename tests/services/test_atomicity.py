"""All or nothing: a failure after the change and before the commit leaves no trace; replayed
updates and repeated messages are handled once.

The failure is injected at the database seam — a ``before_commit`` listener on SQLAlchemy's
``Session`` (the sync session under ``AsyncSession``) — without patching any of our code.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, func
from sqlalchemy.orm import Session
from sqlmodel import col, select

from bot.services.cases import lifecycle
from bot.services.cases.lifecycle import Request, act
from bot.services.cases.report import NewReport, report
from bot.services.unit.context import ServiceContext
from bot.services.unit.inbound import AlreadyHandled, Inbound
from bot.services.unit.outbox import Outbox
from core.cases import Action, Channel, Rating
from db import queries
from db.models import Case, CaseEvent, InboundReceipt, OutboxMessage

from .example import ACTORS, case_in, snapshot

RESIDENT, MANAGER, STAFF = ACTORS["resident"], ACTORS["manager"], ACTORS["staff"]
NEW = NewReport("jzsj-south", "parcels", "快递堆在马路上", location="172号楼")


class InjectedFailure(Exception):
    """The database "fails" at commit."""


@contextmanager
def failing_commits() -> Iterator[list[tuple[int, int, int]]]:
    """Every commit raises; yields what each doomed transaction had written (rows it saw)."""
    seen: list[tuple[int, int, int]] = []

    def fail(session: Session) -> None:
        cases, events, outbox = (
            session.scalar(select(func.count()).select_from(table)) or 0
            for table in (Case, CaseEvent, OutboxMessage)
        )
        seen.append((cases, events, outbox))
        raise InjectedFailure("the database went away before commit")

    event.listen(Session, "before_commit", fail)
    try:
        yield seen
    finally:
        event.remove(Session, "before_commit", fail)


@contextmanager
def counted_commits() -> Iterator[list[int]]:
    """Commits go through; yields the number of transactions committed inside the block."""
    commits = [0]

    def count(session: Session) -> None:
        commits[0] += 1

    event.listen(Session, "before_commit", count)
    try:
        yield commits
    finally:
        event.remove(Session, "before_commit", count)


Step = Callable[[ServiceContext, int], Awaitable[Any]]

# Each use case: the status its case starts in, and the call.
USE_CASES: dict[str, tuple[str, Step]] = {
    "acknowledge": ("assigned", lambda c, n: lifecycle.acknowledge(c, number=n, actor=MANAGER)),
    "resolve": ("acknowledged", lambda c, n: lifecycle.resolve(c, number=n, actor=MANAGER)),
    "decline": ("assigned", lambda c, n: lifecycle.decline(c, number=n, actor=MANAGER)),
    "rate satisfied": (
        "resolved",
        lambda c, n: lifecycle.rate(c, number=n, actor=RESIDENT, rating=Rating.SATISFIED),
    ),
    "rate dissatisfied": (
        "resolved",
        lambda c, n: lifecycle.rate(
            c, number=n, actor=RESIDENT, rating=Rating.DISSATISFIED, note="快递还在"
        ),
    ),
    "reassign": (
        "assigned",
        lambda c, n: lifecycle.reassign(c, number=n, actor=STAFF, manager_id="sup-jzsj-south"),
    ),
    "reject": ("assigned", lambda c, n: lifecycle.reject(c, number=n, actor=STAFF, note="无效")),
    "close": ("acknowledged", lambda c, n: lifecycle.close(c, number=n, actor=STAFF, note="已办")),
    "cancel": ("assigned", lambda c, n: lifecycle.cancel(c, number=n, actor=RESIDENT)),
    "escalate": ("assigned", lambda c, n: lifecycle.escalate(c, number=n)),
    "remind": ("acknowledged", lambda c, n: lifecycle.remind(c, number=n)),
    "close_unrated": ("resolved", lambda c, n: lifecycle.close_unrated(c, number=n)),
}


async def test_a_failed_commit_leaves_nothing_of_any_step(loaded: ServiceContext) -> None:
    ctx = loaded
    for name, (status, step) in USE_CASES.items():
        number = await case_in(ctx, status)
        before = await snapshot(ctx)
        with failing_commits() as seen, pytest.raises(InjectedFailure):
            await step(ctx, number)
        _, events, outbox = before
        # The doomed transaction had written its event and messages before it failed …
        assert len(seen) == 1, name
        assert seen[0][1] > len(events), name
        assert seen[0][2] > len(outbox), name
        # … and none of it, nor the state change, is left.
        assert await snapshot(ctx) == before, name
        # Nothing was stuck half-done either: the same step now goes through, in one transaction.
        with counted_commits() as commits:
            await step(ctx, number)
        assert commits == [1], name
        assert await snapshot(ctx) != before, name


async def test_a_failed_report_leaves_no_case_and_no_receipt(loaded: ServiceContext) -> None:
    ctx = loaded
    await case_in(ctx, "assigned")
    before = await snapshot(ctx)
    inbound = Inbound("telegram", "42")
    with failing_commits() as seen, pytest.raises(InjectedFailure):
        await report(
            ctx, resident_id="r-jzsj-172", channel=Channel.TELEGRAM, new=NEW, inbound=inbound
        )
    assert seen[0][0] == len(before[0]) + 1
    assert await snapshot(ctx) == before
    async with ctx.db.reading() as session:
        assert (await session.exec(select(InboundReceipt))).all() == []
    # Telegram delivers the update again: this time it is handled, as if for the first time.
    case = await report(
        ctx, resident_id="r-jzsj-172", channel=Channel.TELEGRAM, new=NEW, inbound=inbound
    )
    assert case.status == "assigned"


async def test_a_replayed_report_is_handled_once(loaded: ServiceContext) -> None:
    ctx = loaded
    inbound = Inbound("telegram", "42")
    first = await report(
        ctx, resident_id="r-jzsj-172", channel=Channel.TELEGRAM, new=NEW, inbound=inbound
    )
    after_first = await snapshot(ctx)
    assert [c["number"] for c in after_first[0]] == [first.number]
    with pytest.raises(AlreadyHandled):
        await report(
            ctx, resident_id="r-jzsj-172", channel=Channel.TELEGRAM, new=NEW, inbound=inbound
        )
    assert await snapshot(ctx) == after_first
    # The same id from another provider is another update.
    other = await report(
        ctx, resident_id="r-jzsj-172", channel=Channel.SMS, new=NEW, inbound=Inbound("sms", "42")
    )
    assert other.number != first.number


async def test_a_replayed_press_is_handled_once(loaded: ServiceContext) -> None:
    ctx = loaded
    number = await case_in(ctx, "assigned")
    press = Inbound("telegram", "43")
    request = Request(Action.ACKNOWLEDGE)
    await act(ctx, number=number, actor=MANAGER, request=request, inbound=press)
    before = await snapshot(ctx)
    # Not "this case is already in progress": the manager pressed once, and hears once.
    with pytest.raises(AlreadyHandled):
        await act(ctx, number=number, actor=MANAGER, request=request, inbound=press)
    assert await snapshot(ctx) == before


async def test_a_message_is_queued_once_per_event_person_and_template(
    loaded: ServiceContext,
) -> None:
    ctx = loaded
    number = await case_in(ctx, "assigned")
    async with ctx.db.reading() as session:
        reported = (await queries.case_events(session=session, number=number))[0]
    assert reported.kind == "reported"
    key = f"case:{number}:event:{reported.id}"

    async def tell(person_id: str, template: str) -> OutboxMessage | None:
        async with ctx.db.transaction() as session:
            person = await queries.get_person(session=session, person_id=person_id)
            case = await queries.get_case(session=session, number=number)
            outbox = Outbox(session, ctx.clock(), "zh", ctx.channels)
            return await outbox.tell(
                person, template, key=key, case=case, params={"number": number}
            )

    async def rows() -> list[tuple[str | None, str]]:
        async with ctx.db.reading() as session:
            query = select(OutboxMessage).where(
                col(OutboxMessage.idempotency_key).startswith(f"{key}:")
            )
            found = (await session.exec(query.order_by(col(OutboxMessage.id)))).all()
        return [(m.person_id, m.template) for m in found]

    # The report told the resident already: the same event, person and template is not repeated.
    assert await rows() == [("r-jzsj-172", "case.received")]
    assert await tell("r-jzsj-172", "case.received") is None
    assert await tell("r-jzsj-172", "case.received") is None
    # Another person, or another template, is another message.
    assert await tell("mgr-jzsj-south", "case.acknowledged") is not None
    assert await tell("r-jzsj-172", "case.cancelled") is not None
    assert await tell("r-jzsj-172", "case.cancelled") is None
    assert await rows() == [
        ("r-jzsj-172", "case.received"),
        ("mgr-jzsj-south", "case.acknowledged"),
        ("r-jzsj-172", "case.cancelled"),
    ]


async def test_one_transaction_never_queues_the_same_message_twice(
    loaded: ServiceContext,
) -> None:
    ctx = loaded
    number = await case_in(ctx, "assigned")
    async with ctx.db.transaction() as session:
        person = await queries.get_person(session=session, person_id="r-jzsj-172")
        outbox = Outbox(session, ctx.clock(), "zh", ctx.channels)
        for _ in range(3):
            await outbox.tell(person, "case.acknowledged", key="k", params={"number": number})
    async with ctx.db.reading() as session:
        query = select(func.count()).select_from(OutboxMessage)
        key = col(OutboxMessage.idempotency_key)
        count = (await session.exec(query.where(key.startswith("k:")))).one()
    assert count == 1
