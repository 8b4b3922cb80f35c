"""``PUBLIC_URL`` as operators write it: the signature is checked against it, never the URL seen."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from sqlmodel import func, select
from starlette.applications import Starlette
from starlette.routing import Route
from twilio.request_validator import RequestValidator

from bot.services.unit.context import ServiceContext
from bot.sms.webhook import SMS_PATH, STATUS_PATH, TwilioWebhooks
from db.models import Case, InboundReceipt
from sandbox.twilio import new_sid

TOKEN = "fedcba9876543210" * 2
SEEN = "http://10.0.0.7:8080"  # where the proxy forwards to: what the server itself sees
HOST = "https://wolaiban.example.org"


@asynccontextmanager
async def _webhooks(ctx: ServiceContext, public_url: str) -> AsyncIterator[httpx.AsyncClient]:
    hooks = TwilioWebhooks(ctx, auth_token=TOKEN, public_url=public_url, kick=lambda: None)
    app = Starlette(
        routes=[
            Route(SMS_PATH, hooks.inbound, methods=["POST"]),
            Route(STATUS_PATH, hooks.status, methods=["POST"]),
        ]
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=SEEN) as client:
        yield client


def _texted(body: str, sender: str = "+8613700000050") -> dict[str, str]:
    sid = new_sid("SM")
    return {
        "MessageSid": sid,
        "SmsSid": sid,
        "From": sender,
        "To": "+8610690000003",
        "Body": body,
    }


async def _post(client: httpx.AsyncClient, signed_for: str, params: dict[str, str]) -> int:
    signature = RequestValidator(TOKEN).compute_signature(signed_for, params)
    answer = await client.post(SMS_PATH, data=params, headers={"X-Twilio-Signature": signature})
    return answer.status_code


# (PUBLIC_URL as configured, the URL Twilio was given and signs for)
TAKEN = [
    (HOST, HOST),
    (HOST, f"{HOST}:443"),  # Twilio may write the port out when it signs
    (f"{HOST}:443", HOST),
    (f"{HOST}:443", f"{HOST}:443"),
    (f"{HOST}/", HOST),
    (f"{HOST}/wolaiban", f"{HOST}/wolaiban"),  # the proxy serves the bot under a path
    (f"{HOST}:8443/wolaiban/", f"{HOST}:8443/wolaiban"),
]
# (PUBLIC_URL as configured, a URL some forger signed for)
REFUSED = [
    (HOST, SEEN),  # the URL the server sees is not what Twilio called
    (HOST, HOST.replace("https", "http")),
    (HOST, f"{HOST}:8443"),
    (HOST, f"{HOST}/wolaiban"),
    (f"{HOST}/wolaiban", HOST),
]


async def _count(ctx: ServiceContext, model: type[Case] | type[InboundReceipt]) -> int:
    async with ctx.db.reading() as session:
        return int((await session.exec(select(func.count()).select_from(model))).one())


async def test_signed_for_the_public_url_is_taken(loaded: ServiceContext) -> None:
    for n, (public_url, twilio_calls) in enumerate(TAKEN, 1):
        async with _webhooks(loaded, public_url) as client:
            # each its own limit, and its own building (not offered the one before to follow)
            texted = _texted(f"{n}号楼长椅坏了", sender=f"+86137000000{n:02d}")
            status = await _post(client, f"{twilio_calls}{SMS_PATH}", texted)
        assert status == 200, (public_url, twilio_calls)
        assert await _count(loaded, Case) == n


async def test_signed_for_another_url_is_refused_and_writes_nothing(
    loaded: ServiceContext,
) -> None:
    for public_url, forged in REFUSED:
        async with _webhooks(loaded, public_url) as client:
            status = await _post(client, f"{forged}{SMS_PATH}", _texted("5号楼长椅坏了"))
            assert status == 403, (public_url, forged)
            # signed right, but for the other webhook
            status = await _post(client, f"{public_url.rstrip('/')}{STATUS_PATH}", _texted("hi"))
            assert status == 403, public_url
    assert await _count(loaded, Case) == 0
    assert await _count(loaded, InboundReceipt) == 0
