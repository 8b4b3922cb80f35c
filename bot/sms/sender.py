"""Outbox messages as SMS through twilio's async client, with Twilio's answers as outcomes."""

from __future__ import annotations

import aiohttp
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from bot.delivery.claims import Claimed
from bot.delivery.outcomes import Delivered, Flooded, Outcome, Permanent, Transient
from core.sms_text import as_sms

from .countries import allowed_codes, calling_code, may_text

OPTED_OUT = 21610
TIMEOUT_SECONDS = 30.0


class SmsSender:
    """The SMS way out, through Twilio's Messages API (``TWILIO_API_URL`` respected)."""

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        api_url: str,
        sender: str,
        status_callback: str,
        countries: frozenset[str] | None = None,
    ) -> None:
        self._sid, self._token, self._api_url = account_sid, auth_token, api_url.rstrip("/")
        # A "MG…" sid is a messaging service; anything else is the number we send from.
        self._sender, self._callback = sender, status_callback
        # The calling codes we may text (None: the sending number's own country). Anything else
        # is refused before Twilio hears of it: a form that takes a phone must not become a way
        # to text premium numbers abroad on our account (SMS pumping).
        self.countries = allowed_codes("", sender) if countries is None else countries
        self._client: Client | None = None

    def _twilio(self) -> Client:
        # Made on first use: its HTTP session must be born inside the running event loop.
        if self._client is None:
            http = AsyncTwilioHttpClient(timeout=TIMEOUT_SECONDS)
            self._client = Client(self._sid, self._token, http_client=http)
            self._client.api.base_url = self._api_url
        return self._client

    def scope(self, message: Claimed) -> tuple[str, bool]:
        """Paced per sending number: carriers limit each number, not each recipient."""
        return f"sms:{self._sender}", False

    async def send(self, message: Claimed, *, silent: bool) -> Outcome:
        """Send one SMS; Twilio's refusals become outcomes, never exceptions. A number outside
        the allowed countries is refused here, unsent: a permanent failure of this message that
        says why, the person's address left as it is (nothing about them is unreachable)."""
        if not may_text(message.address, self.countries):
            return Permanent(abroad(message.address, self.countries))
        body = as_sms(message.text, message.buttons, message.language)
        sender = (
            {"messaging_service_sid": self._sender}
            if self._sender.startswith("MG")
            else {"from_": self._sender}
        )
        try:
            sent = await self._twilio().messages.create_async(
                to=message.address, body=body, status_callback=self._callback, **sender
            )
        except TwilioRestException as error:
            return _refusal(error)
        except (TimeoutError, aiohttp.ClientError, OSError) as error:
            return Transient(f"{type(error).__name__}: {error}")
        return Delivered(str(sent.sid))

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._client is not None and isinstance(self._client.http_client, AsyncTwilioHttpClient):
            await self._client.http_client.close()
            self._client = None


def abroad(address: str, countries: frozenset[str]) -> str:
    """Why an SMS to ``address`` was not sent (the outbox row's error; no digits beyond the
    country's code, the row has the address)."""
    code = calling_code(address)
    where = f"+{code}" if code else "a number of no known country"
    allowed = ", ".join(f"+{c}" for c in sorted(countries)) or "none"
    return f"not sent: {where} is not among the countries SMS may go to (SMS_COUNTRIES: {allowed})"


def _refusal(error: TwilioRestException) -> Outcome:
    described = f"Twilio {error.status} (error {error.code}): {error.msg}"
    if error.code == OPTED_OUT:
        return Permanent(described, opted_out=True)
    if error.status == 429:
        return Flooded(1.0)
    if error.status >= 500:
        return Transient(described)
    return Permanent(described)
