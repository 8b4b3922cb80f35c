"""The Twilio emulator against the real twilio client and a webhook receiver that validates."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.twiml.messaging_response import MessagingResponse

from sandbox.serve import serving
from sandbox.twilio import TwilioEmulator, new_sid, segments

BOT = "+8675512345678"
RESIDENT = "+8613800138000"
PUBLIC = "https://bot.example.org"

# twilio's async client still passes aiohttp a BasicAuth, which aiohttp now deprecates.
pytestmark = pytest.mark.filterwarnings(
    "ignore:(BasicAuth is|The 'auth' parameter is) deprecated:DeprecationWarning"
)


@dataclass
class Receiver:
    """A tiny bot: records every webhook, validates its signature, answers SMS with TwiML."""

    token: str
    public: str | None = None  # the URL base the bot believes Twilio calls
    twiml: list[str] = field(default_factory=list)
    seen: list[tuple[str, dict[str, str], bool]] = field(default_factory=list)

    async def _hook(self, request: Request) -> Response:
        params = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        url = str(request.url) if self.public is None else self.public + request.url.path
        signature = request.headers.get("X-Twilio-Signature", "")
        valid = RequestValidator(self.token).validate(url, params, signature)
        self.seen.append((request.url.path, params, valid))
        if request.url.path == "/sms":
            answer = MessagingResponse()
            for text in self.twiml:
                answer.message(text)
            return Response(str(answer), media_type="application/xml")
        return Response(status_code=204)

    @property
    def app(self) -> Starlette:
        """``POST /<hook>`` for any hook name."""
        return Starlette(routes=[Route("/{hook}", self._hook, methods=["POST"])])


@asynccontextmanager
async def running(
    emulator: TwilioEmulator, *, token: str | None = None
) -> AsyncIterator[tuple[Client, Receiver, str]]:
    """The emulator and a receiver served on loopback, and a real twilio client for the first."""
    receiver = Receiver(emulator.auth_token)
    async with serving(emulator.app) as api, serving(receiver.app) as hooks:
        client = Client(
            emulator.account_sid, token or emulator.auth_token, http_client=AsyncTwilioHttpClient()
        )
        client.api.base_url = api
        try:
            yield client, receiver, hooks
        finally:
            await client.http_client.close()


async def test_create_returns_the_message_resource() -> None:
    emulator = TwilioEmulator()
    async with running(emulator) as (client, _, _):
        message = await client.messages.create_async(to=RESIDENT, from_=BOT, body="您好" * 40)
    assert message.sid.startswith("SM")
    assert len(message.sid) == 34
    assert message.status == "queued"
    assert message.num_segments == "2"
    assert message.direction == "outbound-api"
    assert message.account_sid == emulator.account_sid
    assert message.date_created is not None
    assert message.price is None
    assert message.error_code is None
    [sms] = emulator.inbox(RESIDENT)
    assert (sms.sid, sms.from_, sms.body, sms.segments) == (message.sid, BOT, "您好" * 40, 2)
    assert emulator.sent == [sms]


async def test_wrong_token_is_401() -> None:
    emulator = TwilioEmulator()
    async with running(emulator, token="0" * 32) as (client, _, _):
        with pytest.raises(TwilioRestException) as raised:
            await client.messages.create_async(to=RESIDENT, from_=BOT, body="hi")
    assert raised.value.status == 401
    assert raised.value.code == 20003
    assert emulator.sent == []


async def test_opted_out_number_is_21610() -> None:
    emulator = TwilioEmulator(opted_out={RESIDENT})
    async with running(emulator) as (client, _, _):
        with pytest.raises(TwilioRestException) as raised:
            await client.messages.create_async(to=RESIDENT, from_=BOT, body="hi")
    assert (raised.value.status, raised.value.code) == (400, 21610)
    assert emulator.inbox(RESIDENT) == []
    assert emulator.refused == [(RESIDENT, 21610)]


async def test_sender_pacing_is_429() -> None:
    emulator = TwilioEmulator(sender_interval=60)
    async with running(emulator) as (client, _, _):
        await client.messages.create_async(to=RESIDENT, from_=BOT, body="one")
        with pytest.raises(TwilioRestException) as raised:
            await client.messages.create_async(to=RESIDENT, from_=BOT, body="two")
        await client.messages.create_async(to=RESIDENT, from_="+8675500000000", body="other")
    assert (raised.value.status, raised.value.code) == (429, 20429)
    assert emulator.too_many_requests == 1


async def test_missing_parameters_and_foreign_account() -> None:
    emulator = TwilioEmulator()
    auth = (emulator.account_sid, emulator.auth_token)
    async with serving(emulator.app) as api, httpx.AsyncClient(auth=auth) as http:
        url = f"{api}/2010-04-01/Accounts/{emulator.account_sid}/Messages.json"
        no_to = await http.post(url, data={"From": BOT, "Body": "hi"})
        no_body = await http.post(url, data={"From": BOT, "To": RESIDENT})
        foreign = await http.post(url.replace(emulator.account_sid, new_sid("AC")), data={})
    assert (no_to.status_code, no_to.json()["code"]) == (400, 21604)
    assert (no_body.status_code, no_body.json()["code"]) == (400, 21602)
    assert foreign.status_code == 404


@pytest.mark.parametrize("order", ["in_order", "reversed", "shuffled"])
async def test_status_callbacks_are_signed_and_ordered(order: str) -> None:
    emulator = TwilioEmulator(callback_order=order, rng=random.Random(5))  # type: ignore[arg-type]
    expected = ["queued", "sent", "delivered"]
    if order == "reversed":
        expected.reverse()
    elif order == "shuffled":
        random.Random(5).shuffle(expected)
    async with running(emulator) as (client, receiver, hooks):
        message = await client.messages.create_async(
            to=RESIDENT, from_=BOT, body="hi", status_callback=f"{hooks}/status"
        )
        await emulator.settle()
    assert [params["MessageStatus"] for _, params, _ in receiver.seen] == expected
    assert all(valid for _, _, valid in receiver.seen)
    assert {params["MessageSid"] for _, params, _ in receiver.seen} == {message.sid}
    assert all("ErrorCode" not in params for _, params, _ in receiver.seen)
    assert [code for _, _, code in emulator.callbacks] == [204, 204, 204]
    assert emulator.last(RESIDENT).status == "delivered"


async def test_failing_number_ends_undelivered() -> None:
    emulator = TwilioEmulator(fail_numbers={RESIDENT: 30003})
    async with running(emulator) as (client, receiver, hooks):
        await client.messages.create_async(
            to=RESIDENT, from_=BOT, body="hi", status_callback=f"{hooks}/status"
        )
        await emulator.settle()
    statuses = [params["MessageStatus"] for _, params, _ in receiver.seen]
    assert statuses == ["queued", "sent", "undelivered"]
    assert receiver.seen[-1][1]["ErrorCode"] == "30003"
    sms = emulator.last(RESIDENT)
    assert (sms.status, sms.error_code) == ("undelivered", 30003)


async def test_callbacks_to_a_public_url_are_forwarded_and_signed_for_it() -> None:
    emulator = TwilioEmulator(callbacks_enabled=False)
    async with running(emulator) as (client, receiver, hooks):
        await client.messages.create_async(
            to=RESIDENT, from_=BOT, body="quiet", status_callback=f"{hooks}/status"
        )
        await emulator.settle()
        assert receiver.seen == []
        emulator.callbacks_enabled, emulator.forward = True, {PUBLIC: hooks}
        receiver.public = PUBLIC
        await client.messages.create_async(
            to=RESIDENT, from_=BOT, body="loud", status_callback=f"{PUBLIC}/status"
        )
        await emulator.settle()
    assert len(receiver.seen) == 3
    assert all(valid for _, _, valid in receiver.seen)
    assert emulator.callbacks[0][0] == f"{PUBLIC}/status"


async def test_text_posts_a_signed_webhook_and_keeps_the_twiml_reply() -> None:
    emulator = TwilioEmulator()
    async with running(emulator) as (_, receiver, hooks):
        receiver.twiml = ["已收到，编号 #12", "回复 查询 #12 可查看进度"]
        reply = await emulator.text(RESIDENT, BOT, "3号楼电梯坏了", url=f"{hooks}/sms")
        again = await emulator.text(
            RESIDENT, BOT, "3号楼电梯坏了", url=f"{hooks}/sms", sid=reply.sid
        )
    assert reply.status_code == 200
    assert "<Message>" in reply.body
    assert reply.messages == ["已收到，编号 #12", "回复 查询 #12 可查看进度"]
    path, params, valid = receiver.seen[0]
    assert path == "/sms"
    assert valid
    assert params["MessageSid"] == params["SmsSid"] == params["SmsMessageSid"] == reply.sid
    assert (params["From"], params["To"], params["Body"]) == (RESIDENT, BOT, "3号楼电梯坏了")
    assert (params["NumMedia"], params["NumSegments"], params["FromCountry"]) == ("0", "1", "CN")
    assert params["AccountSid"] == emulator.account_sid
    assert receiver.seen[1][1]["MessageSid"] == again.sid == reply.sid
    assert len(emulator.received) == 1
    inbox = emulator.inbox(RESIDENT)
    assert [m.body for m in inbox] == reply.messages * 2
    assert all(m.from_ == BOT and m.status == "delivered" for m in inbox)


async def test_text_signs_for_the_public_url() -> None:
    emulator = TwilioEmulator()
    async with running(emulator) as (_, receiver, hooks):
        receiver.public = PUBLIC
        await emulator.text(RESIDENT, BOT, "hi", url=f"{hooks}/sms", public_url=f"{PUBLIC}/sms")
        await emulator.text(RESIDENT, BOT, "hi", url=f"{hooks}/sms")
    assert [valid for _, _, valid in receiver.seen] == [True, False]


async def test_advanced_opt_out_follows_stop_and_start() -> None:
    emulator = TwilioEmulator(advanced_opt_out=True)
    async with running(emulator) as (client, receiver, hooks):
        receiver.twiml = ["已退订"]
        await emulator.text(RESIDENT, BOT, "stop", url=f"{hooks}/sms")
        assert RESIDENT in emulator.opted_out
        assert emulator.inbox(RESIDENT) == []
        with pytest.raises(TwilioRestException):
            await client.messages.create_async(to=RESIDENT, from_=BOT, body="hi")
        await emulator.text(RESIDENT, BOT, "START", url=f"{hooks}/sms")
        await client.messages.create_async(to=RESIDENT, from_=BOT, body="hi")
    assert RESIDENT not in emulator.opted_out


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("[" * 80, 1),
        ("[" * 81, 2),
        ("中" * 70, 1),
        ("中" * 71, 2),
        ("中" * 134, 2),
        ("中" * 135, 3),
        ("中" * 68 + "😀", 1),
        ("中" * 69 + "😀", 2),
        ("a" * 69 + "😀", 2),
    ],
)
def test_segments(text: str, count: int) -> None:
    assert segments(text) == count
