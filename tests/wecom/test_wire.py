"""WeCom's callback XML read as hostile: a DOCTYPE or entity, a repeated, oversized or excess
field, a body past its cap are refused; a signed callback is opened and a forged one answered 403
with nothing read from it; the URL verification answers WeCom's echostr."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from urllib.parse import quote, urlencode

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bot.wecom.crypto import CallbackCrypto, CallbackError
from bot.wecom.wire import (
    MAX_FIELD_CHARS,
    MAX_FIELDS,
    envelope,
    envelope_of,
    fields_of,
    message_xml,
    open_callback,
    verify_route_answer,
)
from tests.wecom.test_crypto import AES_KEY, CORP_ID, ECHOSTR, TOKEN, VERIFY

CRYPTO = CallbackCrypto.of(TOKEN, AES_KEY, CORP_ID)
SAMPLE = CallbackCrypto.of(TOKEN, AES_KEY, CORP_ID, max_age=None)
MAX_BYTES = 4096
EVENT: dict[str, str | int] = {
    "ToUserName": CORP_ID,
    "FromUserName": "zhangsan",
    "CreateTime": 1700000000,
    "MsgType": "event",
    "Event": "template_card_event",
    "EventKey": "ack:7",
    "TaskId": "case-7-1",
    "CardType": "button_interaction",
    "ResponseCode": "rc-1",
    "AgentID": 1000002,
}
LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "ha"><!ENTITY b "&a;&a;&a;&a;&a;&a;">'
    b'<!ENTITY c "&b;&b;&b;&b;&b;&b;">]><xml><Content>&c;</Content></xml>'
)
EXTERNAL = b'<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><A>&x;</A></xml>'


def test_inner_fields_are_read_flat_and_texts_survive_what_looks_like_markup() -> None:
    hostile = '<!DOCTYPE x [<!ENTITY a "b">]> ]]> &amp; <b>报修</b>'
    fields = fields_of(message_xml({**EVENT, "Content": hostile}))
    assert fields["Content"] == hostile
    assert fields["EventKey"] == "ack:7"
    assert fields["CreateTime"] == "1700000000"
    # A nested element (WeCom's SelectedItems and the like) is skipped, not flattened into names.
    nested = fields_of(b"<xml><A>1</A><B><C>2</C></B></xml>")
    assert nested == {"A": "1", "B": ""}


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (LAUGHS, "DOCTYPE"),
        (EXTERNAL, "DOCTYPE"),
        (b"<xml><A>&x;</A></xml>", "undefined entity"),
        (b"<xml><A>1</A><A>2</A></xml>", "repeated"),
        (b"<xml><A>1</A>", "malformed"),
        (b"not xml", "malformed"),
        (b"<xml><A>" + b"x" * (MAX_FIELD_CHARS + 1) + b"</A></xml>", "over"),
        (
            b"<xml>"
            + b"".join(b"<F%d>x</F%d>" % (i, i) for i in range(MAX_FIELDS + 1))
            + b"</xml>",
            "too many",
        ),
    ],
)
def test_hostile_xml_is_refused(body: bytes, why: str) -> None:
    with pytest.raises(CallbackError, match=why):
        fields_of(body)


def test_the_envelope_needs_its_ciphertext_and_refuses_a_doctype() -> None:
    body = envelope("abc=", "f" * 40, "1700000000", "42", to_user=CORP_ID, agent_id="1000002")
    assert envelope_of(body)["Encrypt"] == "abc="
    assert envelope_of(body)["AgentID"] == "1000002"
    with pytest.raises(CallbackError, match="Encrypt"):
        envelope_of(b"<xml><ToUserName>x</ToUserName></xml>")
    with pytest.raises(CallbackError, match="DOCTYPE"):
        envelope_of(EXTERNAL)


def test_message_xml_refuses_a_name_that_is_not_one() -> None:
    with pytest.raises(ValueError, match="field name"):
        message_xml({"A><B": "x"})


@pytest.fixture
async def callback() -> AsyncIterator[tuple[httpx.AsyncClient, list[dict[str, str]]]]:
    """A route as the channels mount theirs: what it opened, and its answers."""
    opened: list[dict[str, str]] = []

    async def post(request: Request) -> Response:
        try:
            opened.append(await open_callback(request, CRYPTO, MAX_BYTES))
        except CallbackError:
            return Response(status_code=403)
        return PlainTextResponse("success")

    async def get(request: Request) -> Response:
        return verify_route_answer(request, CRYPTO)

    async def sample(request: Request) -> Response:  # WeCom's sample of 2014: its age unchecked
        return verify_route_answer(request, SAMPLE)

    routes = [Route("/cb", post, methods=["POST"]), Route("/cb", get), Route("/sample", sample)]
    app = Starlette(routes=routes)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://wolaiban.test") as client:
        yield client, opened


def _signed_post(
    fields: dict[str, str | int], crypto: CallbackCrypto = CRYPTO, age: int = 0
) -> tuple[str, bytes]:
    """A callback as WeCom posts it, sealed ``age`` seconds ago."""
    moment = str(int(time.time()) - age)
    encrypted, signature = crypto.seal(message_xml(fields), moment, "5551234")
    query = urlencode({"msg_signature": signature, "timestamp": moment, "nonce": "5551234"})
    body = envelope(encrypted, signature, moment, "5551234", to_user=CORP_ID)
    return f"/cb?{query}", body


async def test_a_signed_callback_is_opened_and_a_forged_one_refused_unread(
    callback: tuple[httpx.AsyncClient, list[dict[str, str]]],
) -> None:
    client, opened = callback
    url, body = _signed_post(EVENT)
    answer = await client.post(url, content=body)
    assert (answer.status_code, answer.text) == (200, "success")
    assert opened == [{name: str(value) for name, value in EVENT.items()}]
    forger = CallbackCrypto.of("guessed-token", AES_KEY, CORP_ID)
    forged_url, forged_body = _signed_post({**EVENT, "EventKey": "resolve:7"}, forger)
    stale_url, stale_body = _signed_post(EVENT, age=600)  # captured ten minutes ago, replayed
    refused = [
        await client.post(forged_url, content=forged_body),  # signed with another token
        await client.post(stale_url, content=stale_body),
        await client.post(url.replace("nonce=5551234", "nonce=5551235"), content=body),
        await client.post("/cb", content=body),  # unsigned
        await client.post(url, content=LAUGHS),
        await client.post(url, content=body + b" " * MAX_BYTES),  # over the cap
    ]
    assert [r.status_code for r in refused] == [403] * 6
    assert len(opened) == 1


async def test_a_chunked_body_past_the_cap_is_refused(
    callback: tuple[httpx.AsyncClient, list[dict[str, str]]],
) -> None:
    client, opened = callback
    url, body = _signed_post(EVENT)

    async def chunks() -> AsyncIterator[bytes]:
        yield body
        yield b" " * MAX_BYTES  # no Content-Length to refuse it by: counted as it comes

    answer = await client.post(url, content=chunks())
    assert answer.status_code == 403
    assert opened == []


async def test_the_url_verification_answers_the_echostr_and_nothing_to_a_forger(
    callback: tuple[httpx.AsyncClient, list[dict[str, str]]],
) -> None:
    client, _ = callback
    signature, timestamp, nonce = VERIFY
    query = {"msg_signature": signature, "timestamp": timestamp, "nonce": nonce}
    answer = await client.get("/sample", params={**query, "echostr": ECHOSTR})
    assert (answer.status_code, answer.text) == (200, "1616140317555161061")
    assert answer.headers["content-type"].startswith("text/plain")
    # Some proxies pass "+" through unencoded, which a query reads as a space.
    raw = "&".join(f"{k}={quote(v)}" for k, v in query.items()) + f"&echostr={ECHOSTR}"
    assert (await client.get(f"/sample?{raw}")).text == "1616140317555161061"
    forged = await client.get("/sample", params={**query, "nonce": "1", "echostr": ECHOSTR})
    missing = await client.get("/sample", params=query)
    stale = await client.get("/cb", params={**query, "echostr": ECHOSTR})  # 2014: too old
    assert (forged.status_code, forged.text) == (403, "")
    assert missing.status_code == 403
    assert stale.status_code == 403
    moment = str(int(time.time()))
    echostr, signature = CRYPTO.seal(b"8245023", moment, "77")
    fresh = {"msg_signature": signature, "timestamp": moment, "nonce": "77", "echostr": echostr}
    assert (await client.get("/cb", params=fresh)).text == "8245023"
