"""SMS going out on the real stack: opt-outs, delivery reports in any order, two segments."""

from __future__ import annotations

import random
import re
from collections.abc import Callable

import pytest
from sqlmodel import select

from db.engine import Database
from db.models import OptOut, OutboxMessage
from sandbox.harness import eventually
from sandbox.twilio import CallbackOrder, segments
from tests.e2e.channels import Both
from tests.e2e.sms_stack import MANAGER_PHONE, YUANXIANG_NUMBER, outbox_to, sms_stack, text

# twilio's async client still passes aiohttp a BasicAuth, which aiohttp now deprecates.
pytestmark = pytest.mark.filterwarnings(
    "ignore:(BasicAuth is|The 'auth' parameter is) deprecated:DeprecationWarning"
)

RATE_CODES = "回复 1 满意，2 基本满意，3 不满意"


def _api(run: Both, phone: str) -> list[str]:
    """The SMS the bot sent ``phone`` through the Messages API (not as TwiML answers)."""
    return [m.body for m in run.twilio.inbox(phone) if m.direction == "outbound-api"]


def _cards_reach(run: Both, count: int) -> Callable[[], bool]:
    return lambda: len(run.twilio.inbox(MANAGER_PHONE)) == count


async def _row(db: Database, phone: str, template: str) -> OutboxMessage | None:
    rows = [r for r in await outbox_to(db, phone) if r.template == template]
    return rows[-1] if rows else None


async def _finished(run: Both, db: Database, phone: str, template: str) -> OutboxMessage:
    """The outbox row of ``template`` for ``phone`` once delivery is done with it."""

    async def done() -> bool:
        row = await _row(db, phone, template)
        return row is not None and row.status in ("sent", "suppressed")

    await eventually(done)
    await run.twilio.settle()
    row = await _row(db, phone, template)
    assert row is not None
    return row


async def test_stop_suppresses_start_resumes_and_21610_is_remembered(db: Database) -> None:
    stopper, blocked = "+8613700000011", "+8613700000012"
    async with sms_stack(db) as run:
        await text(run, stopper, YUANXIANG_NUMBER, "5号楼长椅坏了")
        await text(run, blocked, YUANXIANG_NUMBER, "6号楼长椅也坏了")

        stopped = await text(run, stopper, YUANXIANG_NUMBER, "STOP")
        assert stopped.messages == ["已退订“我来办”短信，回复 START 可恢复。"]
        await text(run, MANAGER_PHONE, YUANXIANG_NUMBER, "A1")
        row = await _finished(run, db, stopper, "case.acknowledged")
        assert row.status == "suppressed"
        assert _api(run, stopper) == []

        resumed = await text(run, stopper, YUANXIANG_NUMBER, "START")
        assert resumed.messages == ["已恢复“我来办”短信通知。"]
        await text(run, MANAGER_PHONE, YUANXIANG_NUMBER, "D1")
        row = await _finished(run, db, stopper, "case.resolved")
        assert row.status == "sent"
        [told] = _api(run, stopper)
        assert "#1" in told
        assert RATE_CODES in told
        assert segments(told) <= 2

        # The number unsubscribed at Twilio without a word to us: the first send meets 21610.
        run.twilio.opted_out.add(blocked)
        await text(run, MANAGER_PHONE, YUANXIANG_NUMBER, "A2")
        row = await _finished(run, db, blocked, "case.acknowledged")
        assert (row.status, row.attempts) == ("suppressed", 0)
        assert row.last_error is not None
        assert "21610" in row.last_error
        await text(run, MANAGER_PHONE, YUANXIANG_NUMBER, "D2")
        row = await _finished(run, db, blocked, "case.resolved")
        assert row.status == "suppressed"
        assert run.twilio.refused == [(blocked, 21610)]  # tried once, never again
        assert _api(run, blocked) == []
    async with db.reading() as session:
        opted = {o.phone: o.source for o in (await session.exec(select(OptOut))).all()}
    assert opted == {blocked: "provider"}


# (order, seed, error code): each message's reports arrive in this order; the outcome is the most
# advanced state whatever the order ("undelivered" with 30003 is as final as "delivered"). Every
# one of the 24 orders, without the HTTP round trips: tests/sms/test_delivery_reports.py.
ORDERS: list[tuple[CallbackOrder, int, int | None]] = [
    ("in_order", 0, None),
    ("reversed", 0, None),
    ("shuffled", 1, None),
    ("shuffled", 2, None),
    ("shuffled", 4, None),
    ("reversed", 0, 30003),  # "undelivered" first, then the earlier states
]
STATUSES = ("queued", "sending", "sent", "delivered")


def _order(order: CallbackOrder, error: int | None) -> list[str]:
    """The reports one message gets, in the order the emulator posts them (but shuffled)."""
    statuses = [*STATUSES[:-1], "undelivered" if error else STATUSES[-1]]
    return statuses[::-1] if order == "reversed" else statuses


# What residents write, long enough that the manager's card must be shortened: Chinese, English
# (the card is still Chinese: UCS-2), and emoji (two UTF-16 units each); then short ones.
DESCRIPTIONS = [
    "5号楼和6号楼之间长廊的长椅" + "已经坏了很久，扶手松动，木板断裂，老人和孩子都没法坐，" * 6,
    "The bench between buildings 5 and 6 is broken: " + "the armrest is loose and " * 12,
    "长椅坏了😡😡😡" + "🪑" * 80,
    "4号楼长椅坏了",
    "5号楼长椅坏了",
    "6号楼长椅坏了",
]


async def test_delivery_state_only_moves_forward_and_every_sms_fits_two_segments(
    db: Database,
) -> None:
    async with sms_stack(db) as run:
        twilio = run.twilio
        twilio.callback_statuses = STATUSES
        arrived: list[list[str]] = []
        answers: list[str] = []
        for n, (order, seed, error) in enumerate(ORDERS, 1):
            twilio.callback_order = order
            twilio.rng = random.Random(seed)
            twilio.fail_numbers = {MANAGER_PHONE: error} if error else {}
            phone = f"+86137000001{n:02d}"
            said = (await text(run, phone, YUANXIANG_NUMBER, DESCRIPTIONS[n - 1])).messages
            if new := re.search(r"回复 (\d) 新建诉求|Reply (\d) for a new report", said[-1]):
                # Offered the open benches to follow: each of these is its own report (the
                # question is among the SMS sent, which must fit two segments too).
                number = new.group(1) or new.group(2)
                said = (await text(run, phone, YUANXIANG_NUMBER, number)).messages
            answers += said
            await run.until(_cards_reach(run, n))
            await twilio.settle()
            sid = twilio.inbox(MANAGER_PHONE)[-1].sid
            arrived.append(
                [p["MessageStatus"] for _, p, _ in twilio.callbacks if p["MessageSid"] == sid]
            )
        rows = await outbox_to(db, MANAGER_PHONE)
        cards = [m.body for m in twilio.inbox(MANAGER_PHONE)]
        sent = list(twilio.sent)
    for got, (order, _, error) in zip(arrived, ORDERS, strict=True):
        assert sorted(got) == sorted(_order(order, error)), got
        if order != "shuffled":  # a shuffle's draw is shared with SMS the clock sends meanwhile
            assert got == _order(order, error)
    sids = {m.sid for m in twilio.inbox(MANAGER_PHONE)}
    assert {code for _, p, code in twilio.callbacks if p["MessageSid"] in sids} == {204}
    expected = ["undelivered" if error else "delivered" for _, _, error in ORDERS]
    assert [row.delivery_status for row in rows] == expected
    for row, (_, _, error) in zip(rows, ORDERS, strict=True):
        assert (row.last_error is not None and "30003" in row.last_error) == bool(error)

    # Shortened with "…", never the case number nor the reply codes; the answers too.
    for n, (card, description) in enumerate(zip(cards, DESCRIPTIONS, strict=True), 1):
        assert card.startswith(f"📋 新诉求 #{n}\n"), card
        assert description[:5] in card
        codes = f"\n回复 A{n} 接单，D{n} 办好"
        assert card.endswith(f"…{codes}" if n <= 3 else codes), card
    assert [f"#{n}" in answer for n, answer in enumerate(answers, 1)] == [True] * len(ORDERS)
    assert len(sent) >= 2 * len(ORDERS)
    assert [m.body for m in sent if segments(m.body) > 2] == []
