"""``POST /twilio/sms`` and ``POST /twilio/status``.

Each request's ``X-Twilio-Signature`` is checked against ``PUBLIC_URL + path`` — the address Twilio
was told, not the one this server sees behind a proxy — and a request that fails gets 403 with
nothing written. Twilio signs the URL and the form's fields, so the form is read first, in this
order: no signature header, 403 unread; not form-encoded (Twilio posts nothing else), 415 unread;
the body, within the webhooks' cap (``bot/bounds.py``, 413 past it), parsed with a bound on its
fields; then the signature. The TwiML answer goes back only once the message's work is committed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from twilio.request_validator import RequestValidator

from bot.delivery.reports import PROGRESS, record_delivery
from bot.services.unit.context import ServiceContext

from .countries import may_text
from .handler import Fetch, InboundSms, handle_sms
from .media import media_of
from .twiml import messaging_twiml

SMS_PATH, STATUS_PATH = "/twilio/sms", "/twilio/status"
# Twilio's error codes that mean the handset or carrier refused it: not worth retrying.
UNDELIVERED_CODES = frozenset({"30003", "30005", "30006", "30007"})
OPTED_OUT_CODE = "21610"  # the number replied STOP to Twilio
URLENCODED = "application/x-www-form-urlencoded"
# Twilio posts a few dozen fields (with ten pictures, their URLs and types): more is no Twilio's.
MAX_FIELDS = 200

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Report:
    """Twilio's delivery report in our words."""

    state: str
    error: str | None
    opted_out: bool


def report_of(status: str, error_code: str | None) -> Report:
    """A Twilio ``MessageStatus`` and ``ErrorCode`` as a delivery state, error and opt-out."""
    state = "undelivered" if error_code in UNDELIVERED_CODES else status
    return Report(state, error_code or None, error_code == OPTED_OUT_CODE)


def form_encoded(request: Request) -> bool:
    """Whether the body is declared ``application/x-www-form-urlencoded`` (multipart never is)."""
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    return kind == URLENCODED


async def _form(request: Request) -> dict[str, str]:
    """The posted form's fields, parsed in one call and decoded as Starlette's form parser
    decodes them (the last of a repeated name kept): python-multipart's parser cost 7 % of the
    server's CPU under load. ValueError past ``MAX_FIELDS``."""
    text = (await request.body()).decode("latin-1")
    return dict(parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS))


class TwilioWebhooks:
    """The two Twilio endpoints."""

    def __init__(
        self,
        ctx: ServiceContext,
        *,
        auth_token: str,
        public_url: str,
        kick: Callable[[], None],
        fetch: Fetch | None = None,
        countries: frozenset[str] | None = None,
    ) -> None:
        self._ctx, self._kick, self._fetch = ctx, kick, fetch
        # The countries SMS may go to (None: any); a text from elsewhere is not taken in, since
        # its answer would be an SMS there (TwiML is sent at our cost).
        self._countries = countries
        self._validator = RequestValidator(auth_token)
        self._public = public_url.rstrip("/")

    async def _signed_form(self, request: Request, path: str) -> dict[str, str] | Response:
        """The form, when Twilio signed it; else the refusal (403, or 415 for another type)."""
        signature = request.headers.get("X-Twilio-Signature", "")
        if not signature:
            return Response(status_code=403)
        if not form_encoded(request):
            return Response(status_code=415)
        try:
            params = await _form(request)
        except ValueError:  # more fields than any form Twilio posts: not signed by Twilio
            return Response(status_code=403)
        if not self._validator.validate(f"{self._public}{path}", params, signature):
            return Response(status_code=403)
        return params

    async def inbound(self, request: Request) -> Response:
        """A text from a phone: handled, then answered with TwiML."""
        params = await self._signed_form(request, SMS_PATH)
        if isinstance(params, Response):
            return params
        if not params.get("MessageSid") or not params.get("From"):
            return Response(status_code=400)
        if self._countries is not None and not may_text(params["From"], self._countries):
            log.warning("a text from a country SMS may not go to was not taken in")
            return Response(messaging_twiml([]), media_type="application/xml")
        replies = await handle_sms(
            self._ctx,
            InboundSms(
                sid=params["MessageSid"],
                sender=params["From"],
                to=params.get("To", ""),
                body=params.get("Body", ""),
                media=media_of(params),
            ),
            fetch=self._fetch,
        )
        self._kick()
        return Response(messaging_twiml(replies), media_type="application/xml")

    async def status(self, request: Request) -> Response:
        """A delivery report for a message we sent."""
        params = await self._signed_form(request, STATUS_PATH)
        if isinstance(params, Response):
            return params
        sid = params.get("MessageSid") or params.get("SmsSid")
        status = params.get("MessageStatus") or params.get("SmsStatus") or ""
        error_code = params.get("ErrorCode") or None
        # Signed is not well-formed: a status Twilio does not send, or an id or code longer than
        # any it sends, is refused before it reaches a column sized for Twilio's.
        known = not status or status in PROGRESS
        if not sid or len(sid) > 64 or not known or len(error_code or "") > 16:
            return Response(status_code=400)
        # A report can overtake our own record of the send (Twilio calls back as soon as it has
        # the message, before its answer to us is written down): it is kept and applied then.
        report = report_of(status, error_code)
        recorded = await record_delivery(
            self._ctx,
            provider_id=sid,
            state=report.state,
            error=report.error,
            opted_out=report.opted_out,
        )
        if not recorded:
            log.info("a delivery report for %s came before its send was recorded", sid)
        return Response(status_code=204)
