"""A loopback Twilio: enough of the REST Messages API and of Twilio's webhooks for the SMS channel.

Serves ``POST /2010-04-01/Accounts/<sid>/Messages.json`` the way Twilio does (HTTP basic auth,
form-encoded parameters, the Message resource or Twilio's JSON error shape), then posts signed
status callbacks in an order the test chooses. It also plays the residents' phones: ``text`` posts
Twilio's signed inbound webhook to the bot and keeps the TwiML answer, and ``inbox`` reads every SMS
a phone received, whether the bot sent it through the API or as a TwiML reply.

An inbound text may carry pictures (MMS): the form then announces ``NumMedia`` and each
``MediaUrl<i>`` on the API, served behind the account's HTTP basic auth and answered, as Twilio
does, with a redirect to its media store (``cdn_url``, by default this same server); each fetch
is recorded with whether it carried credentials (``media_requests``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import math
import random
import secrets
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, Literal

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator

API_VERSION = "2010-04-01"
# GSM 03.38: the basic table (one septet each) and the extension table (escape + septet).
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = frozenset("\f^{}\\[~]|€")
# Twilio's default opt-out and opt-in keywords (Advanced Opt-Out).
_OPT_OUT = frozenset({"STOP", "STOPALL", "STOP ALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
_OPT_IN = frozenset({"START", "YES", "UNSTOP"})
_COUNTRIES = {"+1": "US", "+44": "GB", "+86": "CN", "+852": "HK", "+853": "MO", "+886": "TW"}
_WEBHOOK_TIMEOUT = 15.0  # seconds Twilio waits for a webhook answer

CallbackOrder = Literal["in_order", "reversed", "shuffled"]


def segments(text: str) -> int:
    """The SMS segments Twilio bills for ``text``: GSM-7 160/153, else UCS-2 70/67."""
    if all(c in _GSM_BASIC or c in _GSM_EXTENDED for c in text):
        units = sum(2 if c in _GSM_EXTENDED else 1 for c in text)
        single, multi = 160, 153
    else:  # UCS-2: a character beyond the BMP takes a surrogate pair
        units = sum(2 if ord(c) > 0xFFFF else 1 for c in text)
        single, multi = 70, 67
    return 1 if units <= single else math.ceil(units / multi)


def new_sid(prefix: str) -> str:
    """A Twilio-shaped sid: ``prefix`` and 32 hex digits."""
    return prefix + secrets.token_hex(16)


def inbound_params(sid: str, from_: str, to: str, body: str, *, account_sid: str) -> dict[str, str]:
    """The form Twilio posts to an inbound-SMS webhook."""
    return {
        "ToCountry": _country(to),
        "ToState": "",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "ToCity": "",
        "FromZip": "",
        "SmsSid": sid,
        "FromState": "",
        "SmsStatus": "received",
        "FromCity": "",
        "Body": body,
        "FromCountry": _country(from_),
        "To": to,
        "ToZip": "",
        "NumSegments": str(segments(body)),
        "MessageSid": sid,
        "AccountSid": account_sid,
        "From": from_,
        "ApiVersion": API_VERSION,
    }


@dataclass
class Sms:
    """One SMS as Twilio handled it; ``status`` is the last state Twilio reached."""

    sid: str
    to: str
    from_: str
    body: str
    at: float
    segments: int
    status: str
    direction: str = "outbound-api"  # or "outbound-reply" (TwiML), "inbound"
    error_code: int | None = None


@dataclass
class Reply:
    """The bot's answer to an inbound SMS webhook: HTTP status, raw body, each ``<Message>``."""

    sid: str
    status_code: int
    body: str
    messages: list[str]


@dataclass
class TwilioEmulator:
    """The emulator's state; ``app`` is the Starlette app to serve."""

    account_sid: str = "AC" + "0123456789abcdef" * 2
    auth_token: str = "fedcba9876543210" * 2
    numbers: set[str] = field(default_factory=set)  # the account's numbers; empty: any From
    opted_out: set[str] = field(default_factory=set)
    advanced_opt_out: bool = False  # STOP/START texted in move the number in/out of opted_out
    sender_interval: float | None = None
    callbacks_enabled: bool = True
    callback_statuses: tuple[str, ...] = ("queued", "sent", "delivered")
    callback_order: CallbackOrder = "in_order"
    rng: random.Random = field(default_factory=random.Random)
    fail_numbers: dict[str, int] = field(default_factory=dict)
    forward: dict[str, str] = field(default_factory=dict)  # public URL prefix -> loopback prefix
    sent: list[Sms] = field(default_factory=list)
    received: list[Sms] = field(default_factory=list)
    phones: dict[str, list[Sms]] = field(default_factory=lambda: defaultdict(list))
    callbacks: list[tuple[str, dict[str, str], int]] = field(default_factory=list)
    refused: list[tuple[str, int]] = field(default_factory=list)  # (To, error code) of each refusal
    too_many_requests: int = 0
    url: str = ""  # where this emulator is served: the media URLs it announces point here
    cdn_url: str = ""  # where its media store is served (``cdn_app``); empty: ``url``
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # media sid -> body, type
    # Each fetch of a medium: ("api" or "cdn", the media sid, whether it carried credentials).
    media_requests: list[tuple[str, str, bool]] = field(default_factory=list)
    _last_send: dict[str, float] = field(default_factory=dict)
    _pending: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def app(self) -> Starlette:
        """The ASGI app answering ``/2010-04-01/Accounts/<sid>/Messages.json``."""
        path = f"/{API_VERSION}/Accounts/{{account}}/Messages.json"
        media = f"/{API_VERSION}/Accounts/{{account}}/Messages/{{message}}/Media/{{media}}"
        return Starlette(
            routes=[
                Route(path, self._create, methods=["POST"]),
                Route(media, self._medium, methods=["GET"]),
                Route("/cdn/{media}", self._stored, methods=["GET"]),
            ]
        )

    @property
    def cdn_app(self) -> Starlette:
        """The media store alone, to serve on an origin of its own (``cdn_url``)."""
        return Starlette(routes=[Route("/cdn/{media}", self._stored, methods=["GET"])])

    # ---- the people -------------------------------------------------------------------------

    async def text(
        self,
        from_: str,
        to: str,
        body: str,
        *,
        url: str,
        public_url: str | None = None,
        sid: str | None = None,
        media: Sequence[tuple[bytes, str] | str] = (),
    ) -> Reply:
        """A phone texts ``to``: post the signed inbound webhook to ``url`` and keep the reply.

        The signature is computed over ``public_url or url`` (what the bot believes Twilio
        calls); pass an earlier ``sid`` to deliver the same message again, as Twilio retries.
        ``media``: pictures sent with it, each (bytes, content type) served by the emulator, or
        a URL announced as it is (a forged form would point elsewhere).
        """
        sid = sid or new_sid("SM")
        params = inbound_params(sid, from_, to, body, account_sid=self.account_sid)
        params |= self._announce(sid, media)
        if all(m.sid != sid for m in self.received):
            at, count = time.monotonic(), segments(body)
            self.received.append(Sms(sid, to, from_, body, at, count, "received", "inbound"))
        keyword = " ".join(body.upper().split())
        if self.advanced_opt_out and keyword in _OPT_OUT:
            self.opted_out.add(from_)
        elif self.advanced_opt_out and keyword in _OPT_IN:
            self.opted_out.discard(from_)
        async with httpx.AsyncClient(timeout=_WEBHOOK_TIMEOUT) as client:
            answer = await self._post(client, url, params, public_url or url)
        replies = _twiml(answer.text, from_, to) if answer.status_code == 200 else []
        for reply_to, reply_from, content in replies:
            if reply_to in self.opted_out:
                continue  # Twilio drops it with 21610
            at, count = time.monotonic(), segments(content)
            sms = Sms(new_sid("SM"), reply_to, reply_from, content, at, count, "delivered")
            sms.direction = "outbound-reply"
            self._record(sms)
        return Reply(sid, answer.status_code, answer.text, [content for _, _, content in replies])

    def _announce(self, sid: str, media: Sequence[tuple[bytes, str] | str]) -> dict[str, str]:
        """The form fields announcing ``media`` (kept to be served behind the account's auth)."""
        fields = {"NumMedia": str(len(media))}
        for i, item in enumerate(media):
            if isinstance(item, str):
                fields[f"MediaUrl{i}"], fields[f"MediaContentType{i}"] = item, "image/jpeg"
                continue
            medium = new_sid("ME")
            self.media[medium] = item
            path = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}/Media/{medium}"
            fields[f"MediaUrl{i}"], fields[f"MediaContentType{i}"] = f"{self.url}{path}", item[1]
        return fields

    async def _medium(self, request: Request) -> Response:
        """A medium on the API: the account's credentials, then a redirect to the store."""
        medium = request.path_params["media"]
        authorized = self._authorized(request.headers.get("authorization", ""))
        self.media_requests.append(("api", medium, "authorization" in request.headers))
        if not authorized:
            return _error(401, 20003, "Authenticate")
        if request.path_params["account"] != self.account_sid or medium not in self.media:
            return _error(404, 20404, f"The requested resource {request.url.path} was not found")
        store = (self.cdn_url or self.url or str(request.base_url)).rstrip("/")
        return RedirectResponse(f"{store}/cdn/{medium}", status_code=307)

    async def _stored(self, request: Request) -> Response:
        """A medium in the store: no credentials wanted (a signed, expiring URL in real life)."""
        medium = request.path_params["media"]
        self.media_requests.append(("cdn", medium, "authorization" in request.headers))
        if medium not in self.media:
            return Response(status_code=404)
        content, content_type = self.media[medium]
        return Response(content, media_type=content_type)

    def inbox(self, phone: str) -> list[Sms]:
        """Every SMS ``phone`` was sent (API sends and TwiML replies), oldest first."""
        return list(self.phones.get(phone, []))

    def last(self, phone: str) -> Sms:
        """The newest SMS sent to ``phone``."""
        return self.phones[phone][-1]

    async def settle(self) -> None:
        """Wait until every scheduled status callback has been posted."""
        while self._pending:
            await asyncio.gather(*self._pending)

    # ---- the REST API -----------------------------------------------------------------------

    async def _create(self, request: Request) -> JSONResponse:
        if not self._authorized(request.headers.get("authorization", "")):
            return _error(401, 20003, "Authenticate")
        if request.path_params["account"] != self.account_sid:
            return _error(404, 20404, f"The requested resource {request.url.path} was not found")
        form = await request.form()
        params = {key: value for key, value in form.multi_items() if isinstance(value, str)}
        to, body = params.get("To", ""), params.get("Body", "")
        from_, service = params.get("From", ""), params.get("MessagingServiceSid") or None
        sender = from_ or service or ""
        if not to:
            return _error(400, 21604, "A 'To' phone number is required.")
        if not sender:
            return _error(400, 21603, "A 'From' phone number is required.")
        if not body and "MediaUrl" not in params:
            return _error(400, 21602, "Message body is required.")
        if len(body) > 1600:
            return _error(400, 21617, "The concatenated message body exceeds the 1600 limit.")
        if from_ and self.numbers and from_ not in self.numbers:
            message = f"The From phone number {from_} is not a valid, SMS-capable inbound phone "
            return _error(400, 21606, message + "number or short code for your account.")
        if to in self.opted_out:
            self.refused.append((to, 21610))
            return _error(400, 21610, "Attempt to send to unsubscribed recipient")
        if self._too_soon(sender):
            self.too_many_requests += 1
            self.refused.append((to, 20429))
            return _error(429, 20429, "Too Many Requests")
        sms = Sms(new_sid("SM"), to, sender, body, time.monotonic(), segments(body), "queued")
        self._record(sms)
        resource = self._resource(sms, from_ or None, service)
        task = asyncio.create_task(self._deliver(sms, params.get("StatusCallback"), service))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return JSONResponse(resource, status_code=201)

    def _authorized(self, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return (user, password) == (self.account_sid, self.auth_token)

    def _too_soon(self, sender: str) -> bool:
        if self.sender_interval is None:
            return False
        now, last = time.monotonic(), self._last_send.get(sender)
        if last is not None and now - last < self.sender_interval:
            return True
        self._last_send[sender] = now
        return False

    def _record(self, sms: Sms) -> None:
        self.sent.append(sms)
        self.phones[sms.to].append(sms)

    def _resource(self, sms: Sms, from_: str | None, service: str | None) -> dict[str, Any]:
        now = format_datetime(datetime.now(UTC))
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sms.sid}"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": sms.body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": from_,
            "messaging_service_sid": service,
            "num_media": "0",
            "num_segments": str(sms.segments),
            "price": None,
            "price_unit": "USD",
            "sid": sms.sid,
            "status": "queued",
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": sms.to,
            "uri": f"{uri}.json",
        }

    # ---- status callbacks -------------------------------------------------------------------

    async def _deliver(self, sms: Sms, callback: str | None, service: str | None) -> None:
        statuses = list(self.callback_statuses)
        error = self.fail_numbers.get(sms.to)
        if error is not None:
            statuses[-1] = "undelivered"
        sms.status, sms.error_code = statuses[-1], error
        if not callback or not self.callbacks_enabled:
            return
        if self.callback_order == "reversed":
            statuses.reverse()
        elif self.callback_order == "shuffled":
            self.rng.shuffle(statuses)
        async with httpx.AsyncClient(timeout=_WEBHOOK_TIMEOUT) as client:
            for status in statuses:
                params = {
                    "MessageSid": sms.sid,
                    "SmsSid": sms.sid,
                    "AccountSid": self.account_sid,
                    "From": sms.from_,
                    "To": sms.to,
                    "MessageStatus": status,
                    "SmsStatus": status,
                    "ApiVersion": API_VERSION,
                }
                if service:
                    params["MessagingServiceSid"] = service
                if error is not None and status == "undelivered":
                    params["ErrorCode"] = str(error)
                try:
                    code = (await self._post(client, callback, params, callback)).status_code
                except httpx.HTTPError:
                    code = 0  # unreachable: Twilio logs it and moves on
                self.callbacks.append((callback, params, code))

    async def _post(
        self, client: httpx.AsyncClient, url: str, params: dict[str, str], signed_url: str
    ) -> httpx.Response:
        signature = str(RequestValidator(self.auth_token).compute_signature(signed_url, params))
        target = next(
            (to + url[len(at) :] for at, to in self.forward.items() if url.startswith(at)), url
        )
        headers = {"X-Twilio-Signature": signature, "User-Agent": "TwilioProxy/1.1"}
        return await client.post(target, data=params, headers=headers)


def _twiml(text: str, to: str, from_: str) -> list[tuple[str, str, str]]:
    """Each ``<Message>`` of a TwiML answer as (to, from, text); nothing when it is not TwiML."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return []
    if root.tag != "Response":
        return []
    found = []
    for message in root.iter("Message"):
        body = message.find("Body")
        content = (body.text if body is not None else message.text) or ""
        found.append((message.get("to") or to, message.get("from") or from_, content.strip()))
    return found


def _country(phone: str) -> str:
    """The ISO country of an E.164 number, as far as the emulator knows them."""
    prefixes = [prefix for prefix in _COUNTRIES if phone.startswith(prefix)]
    return _COUNTRIES[max(prefixes, key=len)] if prefixes else ""


def _error(status: int, code: int, message: str) -> JSONResponse:
    """Twilio's JSON error body."""
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return JSONResponse(body, status_code=status)
