"""Delivery reports in every order, Twilio's refusals as outcomes, and opted-out numbers skipped."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from sqlmodel import select
from twilio.base.exceptions import TwilioRestException

from bot.delivery.claims import Claimed, claim_due
from bot.delivery.outcomes import Delivered, Flooded, Permanent, Transient
from bot.delivery.reports import record_delivery
from bot.delivery.results import record_dead, record_sent
from bot.services.unit.context import ServiceContext
from bot.sms.sender import SmsSender, _refusal
from bot.sms.webhook import report_of
from core.cases import Channel
from db.models import DeliveryReport, OptOut, OutboxMessage
from sandbox.serve import serving
from sandbox.twilio import TwilioEmulator
from tests.sms.claimed import claimed_sms

pytestmark = pytest.mark.filterwarnings(
    "ignore:(BasicAuth is|The 'auth' parameter is) deprecated:DeprecationWarning"
)

PHONE = "+8613700000041"
DELIVERED = ("queued", "sending", "sent", "delivered")
UNDELIVERED = ("queued", "sending", "sent", "undelivered")


async def _rows(ctx: ServiceContext, count: int, *, phone: str = PHONE) -> list[int]:
    """``count`` SMS rows to ``phone``, sent as SM<i>; their ids."""
    now = ctx.clock()
    async with ctx.db.transaction() as session:
        rows = [
            OutboxMessage(
                idempotency_key=f"test:{phone}:{i}",
                channel="sms",
                address=phone,
                template="test",
                text=f"message {i}",
                status="sent",
                provider_message_id=f"SM{phone}{i}",
                next_attempt_at=now,
                created_at=now,
            )
            for i in range(count)
        ]
        session.add_all(rows)
        await session.flush()
        return [row.id for row in rows if row.id is not None]


async def _report(ctx: ServiceContext, provider_id: str, status: str, code: str | None) -> bool:
    """Twilio's report, as the status webhook records it."""
    report = report_of(status, code)
    return await record_delivery(
        ctx,
        provider_id=provider_id,
        state=report.state,
        error=report.error,
        opted_out=report.opted_out,
    )


async def _row(ctx: ServiceContext, row_id: int) -> OutboxMessage:
    async with ctx.db.reading() as session:
        row = await session.get(OutboxMessage, row_id)
    assert row is not None
    return row


@pytest.mark.parametrize(("statuses", "error"), [(DELIVERED, None), (UNDELIVERED, "30003")])
async def test_every_order_ends_in_the_most_advanced_state(
    ctx: ServiceContext, statuses: tuple[str, ...], error: str | None
) -> None:
    orders = list(itertools.permutations(statuses))
    ids = await _rows(ctx, len(orders))
    for i, order in enumerate(orders):
        for status in order:
            code = error if status == "undelivered" else None
            assert await _report(ctx, f"SM{PHONE}{i}", status, code)
    for row_id in ids:
        row = await _row(ctx, row_id)
        assert row.delivery_status == statuses[-1]
        assert row.status == "sent"
        assert (row.last_error or "").endswith("(error 30003)") == bool(error)


async def test_a_carrier_refusal_counts_as_undelivered_and_unknown_ids_are_told(
    ctx: ServiceContext,
) -> None:
    [row_id] = await _rows(ctx, 1)
    assert await _report(ctx, f"SM{PHONE}0", "failed", "30005")
    assert await _report(ctx, f"SM{PHONE}0", "delivered", None)
    assert (await _row(ctx, row_id)).delivery_status == "undelivered"
    assert not await _report(ctx, "SM-unknown", "sent", None)


async def test_21610_in_a_report_or_a_refusal_opts_the_number_out(ctx: ServiceContext) -> None:
    reported, refused = "+8613700000042", "+8613700000043"
    await _rows(ctx, 1, phone=reported)
    [failed_id] = await _rows(ctx, 1, phone=refused)
    await _report(ctx, f"SM{reported}0", "failed", "21610")
    await record_dead(ctx, message_id=failed_id, error="21610", unreachable=False, opted_out=True)
    assert (await _row(ctx, failed_id)).status == "suppressed"
    async with ctx.db.reading() as session:
        opted = {o.phone: o.source for o in (await session.exec(select(OptOut))).all()}
    assert opted == {reported: "provider", refused: "provider"}

    # What was waiting for them is suppressed when its turn comes, never handed to the sender.
    now = ctx.clock()
    async with ctx.db.transaction() as session:
        for i, phone in enumerate((reported, refused, PHONE)):
            session.add(
                OutboxMessage(
                    idempotency_key=f"later:{i}",
                    channel="sms",
                    address=phone,
                    template="test",
                    text="later",
                    next_attempt_at=now,
                    created_at=now,
                )
            )
    claimed = await claim_due(ctx, channel=Channel.SMS, limit=10, lease=timedelta(minutes=1))
    assert [c.address for c in claimed] == [PHONE]
    async with ctx.db.reading() as session:
        later = (
            await session.exec(select(OutboxMessage).where(OutboxMessage.text == "later"))
        ).all()
    assert sorted((r.address, r.status) for r in later) == [
        (PHONE, "sending"),
        (reported, "suppressed"),
        (refused, "suppressed"),
    ]


def _claimed(address: str) -> Claimed:
    return claimed_sms(address, "诉求 #1 已办好")


async def test_twilios_answers_become_outcomes() -> None:
    twilio = TwilioEmulator(opted_out={PHONE}, callbacks_enabled=False, sender_interval=60.0)
    async with serving(twilio.app) as api:
        sender = SmsSender(
            account_sid=twilio.account_sid,
            auth_token=twilio.auth_token,
            api_url=api,
            sender="+8610690000099",
            status_callback="https://wolaiban.example.org/twilio/status",
        )
        try:
            sent = await sender.send(_claimed("+8613700000044"), silent=False)
            refused = await sender.send(_claimed(PHONE), silent=False)
            flooded = await sender.send(_claimed("+8613700000045"), silent=False)
        finally:
            await sender.close()
    assert isinstance(sent, Delivered)
    assert sent.provider_id == twilio.sent[0].sid
    assert isinstance(refused, Permanent)
    assert refused.opted_out
    assert isinstance(flooded, Flooded)


@pytest.mark.parametrize(
    ("status", "code", "outcome"),
    [(400, 21610, Permanent), (400, 21211, Permanent), (429, 20429, Flooded), (503, 0, Transient)],
)
def test_refusals_map_to_what_delivery_does_next(status: int, code: int, outcome: type) -> None:
    error = TwilioRestException(status, "https://api.twilio.com/", "refused", code=code)
    mapped = _refusal(error)
    assert isinstance(mapped, outcome)
    if isinstance(mapped, Permanent):
        assert mapped.opted_out == (code == 21610)


async def test_a_report_that_overtakes_the_send_is_applied_when_the_send_is_recorded(
    ctx: ServiceContext,
) -> None:
    now = ctx.clock()
    async with ctx.db.transaction() as session:
        row = OutboxMessage(
            idempotency_key="early:1",
            channel="sms",
            address=PHONE,
            template="test",
            text="message",
            status="sending",
            next_attempt_at=now,
            created_at=now,
        )
        session.add(row)
        await session.flush()
        row_id = row.id
    assert row_id is not None
    # Twilio calls back before its answer to our send is written down: kept, not lost.
    assert not await _report(ctx, "SM-early", "delivered", None)
    assert not await _report(ctx, "SM-early", "sent", None)
    await record_sent(ctx, sent={row_id: "SM-early"})
    row = await _row(ctx, row_id)
    assert (row.status, row.delivery_status) == ("sent", "delivered")
    async with ctx.db.reading() as session:
        assert (await session.exec(select(DeliveryReport))).all() == []
