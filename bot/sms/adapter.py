"""The SMS channel (Twilio): the inbound and status webhooks, the sender paced per sending
number; plain text (choices by number), answers in its reply (TwiML); held in quiet hours."""

from __future__ import annotations

import logging

from starlette.routing import Route

from bot.adapter import Wired, Wiring
from bot.config import Settings
from bot.delivery.pacing import Limits
from bot.services.unit.traits import ChannelTraits

from .countries import allowed_codes

log = logging.getLogger(__name__)
TRAITS = ChannelTraits("sms", plain_text=True, answers_in_reply=True, id_prefix="sms")


class SmsAdapter:
    """SMS, on when the Twilio account and a sender are set."""

    traits = TRAITS

    def enabled(self, settings: Settings) -> bool:
        """On with Twilio's credentials."""
        return settings.sms_enabled

    def wire(self, setup: Wiring) -> Wired:
        """Twilio's two webhooks and the sender."""
        from bot.sms.sender import SmsSender

        from .media import MediaFetcher
        from .webhook import SMS_PATH, STATUS_PATH, TwilioWebhooks

        settings, pacing = setup.settings, setup.pacing

        assert settings.twilio_account_sid is not None
        assert settings.twilio_auth_token is not None
        token = settings.twilio_auth_token.get_secret_value()
        public = settings.public_url.rstrip("/")
        countries = allowed_codes(settings.sms_countries, settings.twilio_from_number)
        if not countries:
            # A messaging service names no country of its own: say so at start, not per message.
            log.warning(
                "no SMS will be sent: set SMS_COUNTRIES (TWILIO_FROM_NUMBER names no country)"
            )
        sender = SmsSender(
            account_sid=settings.twilio_account_sid,
            auth_token=token,
            api_url=settings.twilio_api_url,
            sender=settings.sms_sender,
            status_callback=f"{public}{STATUS_PATH}",
            countries=countries,
        )
        fetch = MediaFetcher(
            api_url=settings.twilio_api_url,
            account_sid=settings.twilio_account_sid,
            auth_token=token,
            max_bytes=settings.media_max_bytes,
            allow=settings.media_fetch_allow,
        )
        hooks = TwilioWebhooks(
            setup.ctx,
            auth_token=token,
            public_url=public,
            kick=setup.kick,
            fetch=fetch,
            countries=countries,
        )
        rate = settings.sms_per_second
        return Wired(
            routes=[
                Route(SMS_PATH, hooks.inbound, methods=["POST"]),
                Route(STATUS_PATH, hooks.status, methods=["POST"]),
            ],
            sender=sender,
            pacing=pacing or Limits(per_second=rate, chat_interval=1 / rate),
            quiet="hold",
            close=sender.close,
        )
