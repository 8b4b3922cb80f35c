"""One claim of many kinds of rows: each row gets the fate the dispatcher relies on (sent with its
photos, edited in place, retired, dropped with its card, suppressed, held for quiet hours), and
the claim costs the same number of statements for 4 rows as for 40."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from datetime import timedelta
from functools import partial
from typing import Any

from sqlalchemy import event, select, text
from sqlalchemy.engine import Connection

from bot.delivery.claims import Claimed, claim_due
from bot.delivery.results import record_sent, renew_claims
from bot.services.cases.report import NewReport, report
from bot.services.unit.context import ServiceContext
from core.cases import Channel
from db.engine import Database
from db.models import CasePhoto, DeliveryReport, OptOut, OutboxMessage, OutboxStatus
from tests.conftest import Clock

LEASE = timedelta(seconds=20)
_KEYS = itertools.count()
SMS = "sms"  # the rows under test go on their own channel, apart from the report's own


async def _case(ctx: ServiceContext) -> int:
    """A case to hang photos on (its own messages are Telegram's, not claimed here)."""
    case = await report(
        ctx,
        resident_id="r-jzsj-172",
        channel=Channel.TELEGRAM,
        new=NewReport("jzsj-south", "parcels", "快递堆在路上", location="172"),
    )
    assert case.number is not None
    return case.number


async def _rows(ctx: ServiceContext, *rows: dict[str, Any]) -> list[int]:
    """Outbox rows on ``SMS``, due now unless they say otherwise; their ids, in order."""
    now = ctx.clock()
    made = []
    async with ctx.db.transaction() as session:
        for n, values in enumerate(rows):
            row = OutboxMessage(
                idempotency_key=f"test:{next(_KEYS)}",
                channel=SMS,
                address=values.pop("address", f"+1555000{n:04d}"),
                template="t",
                text=values.pop("text", f"message {n}"),
                next_attempt_at=values.pop("next_attempt_at", now),
                created_at=now,
                **values,
            )
            session.add(row)
            await session.flush()
            made.append(row)
    return [r.id for r in made if r.id is not None]


async def _state(db: Database, ids: list[int]) -> dict[int, tuple[Any, ...]]:
    """status, last_error, claimed_by of each row."""
    return {r[0]: r[1:] for r in await _columns(db, ids, "status", "last_error", "claimed_by")}


async def _columns(db: Database, ids: list[int], *names: str) -> list[tuple[Any, ...]]:
    """The id and ``names`` of these outbox rows, by id."""
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    query = select(table.c.id, *[table.c[n] for n in names]).where(table.c.id.in_(ids))
    async with db.engine.connect() as conn:
        return [tuple(r) for r in await conn.execute(query.order_by(table.c.id))]


async def _photos(ctx: ServiceContext, number: int) -> None:
    """Three photos of case ``number``: by file id, by bytes only, by file id."""
    async with ctx.db.transaction() as session:
        for position, (file_id, content) in enumerate(
            [("f-0", None), (None, b"\xff\xd8jpeg"), ("f-2", None)]
        ):
            session.add(
                CasePhoto(
                    case_number=number,
                    position=position,
                    source="sms",
                    file_id=file_id,
                    content=content,
                    created_at=ctx.clock(),
                )
            )


async def test_one_claim_gives_each_row_its_fate(loaded: ServiceContext, clock: Clock) -> None:
    ctx = loaded
    number = await _case(ctx)
    await _photos(ctx, number)
    async with ctx.db.transaction() as session:
        session.add(OptOut(phone="+15550009999", at=clock()))
    sent = OutboxStatus.SENT
    [with_photos, card_b, card_c, card_d] = await _rows(
        ctx,
        {"case_number": number, "photos": [1, 0], "text": "card A"},
        {"status": sent, "provider_message_id": "p-B", "photos": [0], "case_number": number},
        {"status": OutboxStatus.DEAD},
        {},  # card D: pending, goes out in this very claim
    )
    [old_edit, new_edit, edit_c, edit_d, stopped, retried] = await _rows(
        ctx,
        {"edit_of": card_b},
        {"edit_of": card_b},
        {"edit_of": card_c},
        {"edit_of": card_d},
        {"address": "+15550009999"},
        {"status": OutboxStatus.FAILED, "attempts": 1, "claimed_by": "gone-host:1"},
    )

    claimed = await claim_due(ctx, channel=SMS, limit=100, lease=LEASE, holder="me:1")

    by_id: dict[int, Claimed] = {c.id: c for c in claimed}
    assert sorted(by_id) == sorted([with_photos, card_d, new_edit, retried])
    carried = by_id[with_photos].photos
    assert [(p.position, p.file_id, p.content) for p in carried] == [
        (0, "f-0", None),
        (1, None, b"\xff\xd8jpeg"),
    ]
    assert (by_id[new_edit].edit_message_id, by_id[new_edit].caption) == ("p-B", True)
    assert by_id[card_d].edit_message_id is None
    assert by_id[card_d].photos == ()
    assert by_id[retried].attempts == 1
    state = await _state(ctx.db, [*by_id, old_edit, edit_c, edit_d, stopped])
    for row_id in by_id:
        assert state[row_id] == ("sending", None, "me:1")
    assert state[old_edit] == ("superseded", "a newer edit replaced it", None)
    assert state[edit_c] == ("dead", "the message to edit was never delivered", None)
    assert state[edit_d] == ("pending", None, None)  # waits for its card to go out
    assert state[stopped] == ("suppressed", "the address opted out (STOP)", None)

    # Once card D is sent, its edit goes with the next claim, as an edit of what was sent.
    await record_sent(ctx, sent={card_d: "p-D"})
    again = await claim_due(ctx, channel=SMS, limit=100, lease=LEASE, holder="me:1")
    assert [(c.id, c.edit_message_id, c.caption) for c in again] == [(edit_d, "p-D", False)]


async def test_quiet_hours_hold_all_but_the_urgent(loaded: ServiceContext, clock: Clock) -> None:
    ctx = loaded
    [calm, urgent] = await _rows(ctx, {"claimed_by": "gone-host:1"}, {"urgent": True})
    morning = clock() + timedelta(hours=8)
    claimed = await claim_due(
        ctx, channel=SMS, limit=100, lease=LEASE, holder="me:1", hold_until=morning
    )
    assert [c.id for c in claimed] == [urgent]
    assert (await _state(ctx.db, [calm]))[calm] == ("pending", None, None)
    await record_sent(ctx, sent={urgent: "SM-urgent"})
    clock.advance(hours=7, minutes=59)
    assert await claim_due(ctx, channel=SMS, limit=100, lease=LEASE, holder="me:1") == []
    clock.advance(minutes=1)
    late = await claim_due(ctx, channel=SMS, limit=100, lease=LEASE, holder="me:1")
    assert [c.id for c in late] == [calm]


async def test_a_report_that_came_first_is_applied_when_the_send_is_recorded(
    loaded: ServiceContext, clock: Clock
) -> None:
    ctx = loaded
    ids = await _rows(ctx, {"address": "+15550001111"}, {}, {})
    assert len(await claim_due(ctx, channel=SMS, limit=100, lease=LEASE, holder="me:1")) == 3
    async with ctx.db.transaction() as session:
        for provider, state, error, opted in (
            ("SM1", "sent", None, False),
            ("SM1", "undelivered", "21610", True),
            ("SM1", "queued", None, False),  # late and behind: changes nothing
            ("SM2", "delivered", None, False),
        ):
            session.add(
                DeliveryReport(
                    provider_message_id=provider,
                    state=state,
                    error=error,
                    opted_out=opted,
                    received_at=clock(),
                )
            )
    await record_sent(ctx, sent={ids[0]: "SM1", ids[1]: "SM2", ids[2]: "SM3"})
    names = ("status", "delivery_status", "last_error", "provider_message_id")
    assert [r[1:] for r in await _columns(ctx.db, ids, *names)] == [
        ("sent", "undelivered", "undelivered (error 21610)", "SM1"),
        ("sent", "delivered", None, "SM2"),
        ("sent", None, None, "SM3"),
    ]
    async with ctx.db.engine.connect() as conn:
        left = await conn.execute(text("SELECT count(*) FROM delivery_report"))
        assert left.scalar() == 0
        phones = await conn.execute(text("SELECT phone, source FROM opt_out"))
        assert [tuple(r) for r in phones] == [("+15550001111", "provider")]


async def _statements(db: Database, during: Callable[[], Awaitable[None]]) -> list[str]:
    """The SQL statements run while ``during`` is awaited (writer and pool alike)."""
    seen: list[str] = []
    if db.is_sqlite:  # the writer runs on the bare sqlite3 connection: trace it there

        def trace(conn: Connection) -> None:
            conn.connection.driver_connection.set_trace_callback(seen.append)  # type: ignore[union-attr]

        def untrace(conn: Connection) -> None:
            conn.connection.driver_connection.set_trace_callback(None)  # type: ignore[union-attr]

        await db.write(trace)
        try:
            await during()
        finally:
            await db.write(untrace)
    else:

        def record(_c: Any, _cursor: Any, statement: str, *_: Any) -> None:
            seen.append(statement)

        event.listen(db.engine.sync_engine, "before_cursor_execute", record)
        try:
            await during()
        finally:
            event.remove(db.engine.sync_engine, "before_cursor_execute", record)
    verbs = ("SELECT", "UPDATE", "INSERT", "DELETE")
    return [s for s in seen if s.lstrip().upper().startswith(verbs)]


async def _mixed(ctx: ServiceContext, clock: Clock, number: int, n: int) -> None:
    """``n`` times: a card with photos, a sent card and two edits of it, an opted-out row."""
    for _ in range(n):
        [card] = await _rows(
            ctx, {"status": OutboxStatus.SENT, "provider_message_id": f"p-{next(_KEYS)}"}
        )
        await _rows(
            ctx,
            {"case_number": number, "photos": [0, 1]},
            {"edit_of": card},
            {"edit_of": card},
            {"address": "+15550009999"},
        )
        clock.advance(seconds=1)


async def _claim_into(ctx: ServiceContext, claimed: list[Claimed]) -> None:
    claimed.extend(await claim_due(ctx, channel=SMS, limit=1000, lease=LEASE, holder="me:1"))


async def test_a_claim_costs_the_same_statements_for_4_rows_as_for_40(
    loaded: ServiceContext, clock: Clock
) -> None:
    ctx = loaded
    number = await _case(ctx)
    await _photos(ctx, number)
    async with ctx.db.transaction() as session:
        session.add(OptOut(phone="+15550009999", at=clock()))
    counts = []
    for n in (1, 10):
        await _mixed(ctx, clock, number, n)
        claimed: list[Claimed] = []
        statements = await _statements(ctx.db, partial(_claim_into, ctx, claimed))
        assert len(claimed) == 2 * n  # each card with its photos, each card's newer edit
        assert sorted(len(c.photos) for c in claimed) == [0] * n + [2] * n
        counts.append(len(statements))
    assert counts[0] == counts[1], counts
    assert counts[0] <= 12, counts  # the due rows, opt-outs, edits, cards, 3 fates, photos


async def test_a_renewed_claim_is_not_taken_when_its_first_lease_runs_out(
    loaded: ServiceContext, clock: Clock
) -> None:
    ctx = loaded
    [kept, sent] = await _rows(ctx, {}, {})
    assert len(await claim_due(ctx, channel=SMS, limit=100, lease=LEASE, holder="me:1")) == 2
    await record_sent(ctx, sent={sent: "SM-sent"})
    clock.advance(seconds=15)
    await renew_claims(ctx, ids=[kept, sent], lease=LEASE)
    clock.advance(seconds=10)  # past the first lease, within the renewed one
    assert await claim_due(ctx, channel=SMS, limit=100, lease=LEASE, holder="other:1") == []
    assert (await _state(ctx.db, [sent]))[sent] == ("sent", None, "me:1")
    clock.advance(seconds=11)  # the renewed lease ran out too: another process takes it
    taken = await claim_due(ctx, channel=SMS, limit=100, lease=LEASE, holder="other:1")
    assert [c.id for c in taken] == [kept]
