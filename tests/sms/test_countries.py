"""SMS go only to the countries an operator allows: a number's calling code found by the ITU
table, a foreign number refused by the sender before Twilio hears of it, and an Open311 filing
with a foreign phone ending in a dead outbox row that says why — the person not marked
unreachable, the number not opted out, nothing else held up."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import httpx
import pytest
from sqlmodel import col, select
from starlette.applications import Starlette
from starlette.routing import Route
from twilio.request_validator import RequestValidator

from bot.config import Settings
from bot.delivery.claims import Claimed
from bot.delivery.outcomes import Delivered, Permanent
from bot.open311 import keys
from bot.services.unit.context import ServiceContext
from bot.sms.countries import CALLING_CODES, allowed_codes, calling_code, may_text
from bot.sms.sender import SmsSender
from bot.sms.webhook import SMS_PATH, TwilioWebhooks
from db.engine import Database
from db.models import Identity, InboundReceipt, OptOut, OutboxMessage
from sandbox.harness import FROM_NUMBER, eventually
from sandbox.serve import serving
from sandbox.twilio import TwilioEmulator, new_sid
from tests.e2e.sms_stack import settled, sms_stack
from tests.sms.claimed import claimed_sms
from tests.sms.test_signatures import SEEN, TOKEN

pytestmark = pytest.mark.filterwarnings(
    "ignore:(BasicAuth is|The 'auth' parameter is) deprecated:DeprecationWarning"
)

FOREIGN = "+447700900123"  # a UK number (Ofcom's drama range)
DOMESTIC = "+8613900000061"  # nobody the example directory knows

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


# ---- the calling code of a number ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "code"),
    [
        ("+447700900123", "44"),
        ("+8613800000001", "86"),
        ("+8610690000099", "86"),
        ("+85291234567", "852"),
        ("+85362812345", "853"),
        ("+886912345678", "886"),
        ("+12025550100", "1"),
        ("+18765550100", "1"),  # Jamaica dials within +1: the code is a zone, not a country
        ("+79001234567", "7"),
        ("+2348012345678", "234"),
        ("+35312345678", "353"),
        ("+882161234567", "882"),  # non-geographic (international networks)
        ("+2801234567", None),  # 28x is spare: no country
        ("8613800000001", None),  # no "+"
        ("+0123456789", None),
        ("+86 138 0000 0001", None),  # not E.164 as written
        ("+861", None),
        ("", None),
    ],
)
def test_the_calling_code_of_a_number(number: str, code: str | None) -> None:
    assert calling_code(number) == code


def test_the_table_is_a_prefix_code_of_one_to_three_digits() -> None:
    # Then the first code that matches is the only one: "+1…" is never read as "+12…".
    assert all(c.isdigit() and 1 <= len(c) <= 3 and c[0] != "0" for c in CALLING_CODES)
    clashes = [(a, b) for a in CALLING_CODES for b in CALLING_CODES if a != b and b.startswith(a)]
    assert clashes == []
    assert {"1", "7", "44", "86", "852", "853", "886"} <= CALLING_CODES


def test_the_allowed_countries_come_from_the_setting_else_the_sending_number() -> None:
    assert allowed_codes("86,852", FROM_NUMBER) == {"86", "852"}
    assert allowed_codes("+44", FROM_NUMBER) == {"44"}
    assert allowed_codes("", FROM_NUMBER) == {"86"}
    assert allowed_codes("", "+12025550100") == {"1"}
    # A messaging service names no country: nothing is allowed until the operator says.
    assert allowed_codes("", "MG" + "0" * 32) == frozenset()
    assert allowed_codes("", None) == frozenset()
    assert may_text(DOMESTIC, frozenset({"86"}))
    assert not may_text(FOREIGN, frozenset({"86"}))
    assert not may_text("+85291234567", frozenset({"86"}))
    assert not may_text(DOMESTIC, frozenset())


# ---- the sender ---------------------------------------------------------------------------------


def _claimed(address: str) -> Claimed:
    return claimed_sms(address, "诉求 #1 已受理")


class Counting:
    """The emulator's app, counting every request that reaches it."""

    def __init__(self, twilio: TwilioEmulator) -> None:
        self.app, self.requests = twilio.app, 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.requests += 1
        await self.app(scope, receive, send)


@pytest.mark.parametrize(
    ("countries", "sent_to"),
    [
        (None, {DOMESTIC}),  # unset: the country of the sending number (+86)
        (frozenset({"86"}), {DOMESTIC}),
        (frozenset({"86", "44"}), {DOMESTIC, FOREIGN}),
        (frozenset({"852"}), set()),
    ],
)
async def test_the_sender_refuses_a_number_abroad_before_twilio_hears_of_it(
    countries: frozenset[str] | None, sent_to: set[str]
) -> None:
    twilio = TwilioEmulator(callbacks_enabled=False)
    counted = Counting(twilio)
    async with serving(counted) as api:
        sender = SmsSender(
            account_sid=twilio.account_sid,
            auth_token=twilio.auth_token,
            api_url=api,
            sender=FROM_NUMBER,
            status_callback="https://wolaiban.example.org/twilio/status",
            countries=countries,
        )
        try:
            numbers = (DOMESTIC, FOREIGN)
            outcomes = {a: await sender.send(_claimed(a), silent=False) for a in numbers}
        finally:
            await sender.close()
    assert {sms.to for sms in twilio.sent} == sent_to
    assert counted.requests == len(sent_to)  # a refused number costs not even a request
    for address, outcome in outcomes.items():
        if address in sent_to:
            assert isinstance(outcome, Delivered)
            continue
        assert isinstance(outcome, Permanent)
        assert not outcome.unreachable
        assert not outcome.opted_out
        code = "+44" if address == FOREIGN else "+86"
        assert outcome.error.startswith(f"not sent: {code} is not among the countries")
        assert address not in outcome.error


def test_the_setting_is_read_as_calling_codes() -> None:
    settings = Settings(_env_file=None, sms_countries=" +86, 852 ")
    assert allowed_codes(settings.sms_countries, settings.twilio_from_number) == {"86", "852"}


# ---- through the stack: an Open311 filing with a phone abroad -----------------------------------


async def _rows_to(db: Database, phone: str) -> list[OutboxMessage]:
    async with db.reading() as session:
        query = select(OutboxMessage).where(OutboxMessage.address == phone)
        return list((await session.exec(query.order_by(col(OutboxMessage.id)))).all())


async def test_a_phone_abroad_is_never_texted_and_its_row_ends_dead_saying_why(
    db: Database,
) -> None:
    async with sms_stack(db, sms_countries="86") as run:
        key = await keys.create_key(run.ctx, name="city-12345", communities=[])
        form = {
            "api_key": key,
            "service_code": "parcels",
            "jurisdiction_id": "yuanxiang",
            "address_string": "5号楼",
            "description": "5号楼门口快递堆放",
        }
        async with httpx.AsyncClient(base_url=run.public_url, timeout=10) as http:
            for phone in (FOREIGN, DOMESTIC):
                posted = await http.post("/open311/v2/requests.json", data={**form, "phone": phone})
                assert posted.status_code == 200, posted.text

        async def both_done() -> bool:
            rows = await _rows_to(db, FOREIGN) + await _rows_to(db, DOMESTIC)
            return bool(rows) and all(r.status in ("sent", "dead") for r in rows)

        await eventually(both_done)
        await settled(run)
        foreign, domestic = await _rows_to(db, FOREIGN), await _rows_to(db, DOMESTIC)

        # Nothing reached Twilio for the number abroad; the one at home got its receipt.
        assert all(sms.to != FOREIGN for sms in run.twilio.sent)
        assert not run.twilio.inbox(FOREIGN)
        assert run.twilio.inbox(DOMESTIC)
        assert [r.status for r in domestic] == ["sent"] * len(domestic)
        assert foreign
        assert [r.status for r in foreign] == ["dead"] * len(foreign)
        assert all(
            r.last_error == "not sent: +44 is not among the countries SMS may go to "
            "(SMS_COUNTRIES: +86)"
            for r in foreign
        )
        async with db.reading() as session:
            identity = (
                await session.exec(select(Identity).where(Identity.address == FOREIGN))
            ).one()
            opted = (await session.exec(select(OptOut))).all()
        # The refusal is ours, not the person's: their address stays as it was, not opted out.
        assert identity.reachable
        assert opted == []


async def test_a_text_from_abroad_is_not_taken_in_nor_answered(loaded: ServiceContext) -> None:
    # Its answer would be an SMS abroad, sent by Twilio at our cost from the TwiML.
    hooks = TwilioWebhooks(
        loaded,
        auth_token=TOKEN,
        public_url=SEEN,
        kick=lambda: None,
        countries=frozenset({"86"}),
    )
    app = Starlette(routes=[Route(SMS_PATH, hooks.inbound, methods=["POST"])])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=SEEN) as client:
        answers = []
        for sender in ("+447700900123", "+8613700000071"):
            params = {
                "MessageSid": new_sid("SM"),
                "From": sender,
                "To": "+8610690000003",
                "Body": "楼道灯坏了",
            }
            signature = RequestValidator(TOKEN).compute_signature(f"{SEEN}{SMS_PATH}", params)
            answer = await client.post(
                SMS_PATH, data=params, headers={"X-Twilio-Signature": signature}
            )
            assert answer.status_code == 200
            answers.append(answer.text)
    abroad, home = answers
    assert "<Message>" not in abroad
    assert "<Message>" in home
    async with loaded.db.reading() as session:
        receipts = (await session.exec(select(InboundReceipt))).all()
    assert [r.sender for r in receipts] == ["+8613700000071"]  # nothing of the text from abroad
