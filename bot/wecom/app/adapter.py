"""The WeCom app channel (企业微信自建应用) for staff, managers and supervisors: the callback route,
the handlers, the sender paced per member (WeCom's 30 messages a minute and 1,000 an hour).

It does not edit messages as the case moves: WeCom changes a card only with the one-time code
of a press on it (``pressed``), so a card is brought up to date when its reader presses it."""

from __future__ import annotations

from functools import partial

from starlette.routing import Route

from bot.adapter import Wired, Wiring
from bot.config import Settings
from bot.delivery.pacing import Limits
from bot.services.unit.traits import ChannelTraits

from .cards import CHANNEL

TRAITS = ChannelTraits(CHANNEL, id_prefix="wc")
# Across members (WeCom allows an app far more); one member's messages a moment apart, within
# WeCom's caps per minute and per hour (the settings', at most WeCom's own).
PER_SECOND = 30.0
MEMBER_INTERVAL = 0.2
MINUTE, HOUR = 60.0, 3600.0
# The HTTP client's patience with WeCom (a call that hangs holds one send, not the rest).
TIMEOUT = 10.0


def member_pacing(settings: Settings) -> Limits:
    """The pace the settings allow each member."""
    caps = ((settings.wecom_per_minute, MINUTE), (settings.wecom_per_hour, HOUR))
    return Limits(per_second=PER_SECOND, chat_interval=MEMBER_INTERVAL, chat_caps=caps)


def app_keys(settings: Settings) -> tuple[str, int, str, str, str]:
    """The corp id, agent id, secret, callback Token and EncodingAESKey of the app."""
    corp, agent = settings.wecom_corp_id, settings.wecom_agent_id
    secret, token, key = settings.wecom_secret, settings.wecom_token, settings.wecom_aes_key
    if not (corp and agent and secret and token and key):
        raise ValueError("WeCom needs WECOM_CORP_ID, _AGENT_ID, _SECRET, _TOKEN and _AES_KEY")
    return (
        corp,
        agent,
        secret.get_secret_value(),
        token.get_secret_value(),
        key.get_secret_value(),
    )


class WeComAdapter:
    """WeCom's self-built app, on when its corp, agent, secret and callback keys are set."""

    traits = TRAITS

    def enabled(self, settings: Settings) -> bool:
        """On with the app's settings."""
        return settings.wecom_enabled

    def wire(self, setup: Wiring) -> Wired:
        """The callback route, the client with its shared token, and the paced sender."""
        import httpx

        from bot.processes import holder_id
        from bot.wecom.client import WeComClient
        from bot.wecom.crypto import CallbackCrypto

        from .callback import PATH, AppCallback
        from .handlers import StaffGateway
        from .pressed import pressed_update
        from .sender import WeComAppSender

        settings = setup.settings
        corp, agent, secret, token, key = app_keys(settings)
        http = httpx.AsyncClient(timeout=TIMEOUT)
        client = WeComClient.shared(
            setup.ctx.db,
            api_url=settings.wecom_api_url,
            corp_id=corp,
            secret=secret,
            http=http,
            owner=holder_id(),
        )
        crypto = CallbackCrypto.of(token, key, corp)
        console = settings.public_url.rstrip("/") if settings.console_enabled else None
        gateway = StaffGateway(setup.ctx, kick=setup.kick, console_url=console)
        hook = AppCallback(
            crypto, agent_id=agent, gateway=gateway, max_bytes=settings.webhook_max_bytes
        )
        pacing = setup.pacing or member_pacing(settings)
        sender = WeComAppSender(
            client,
            agent_id=agent,
            pressed=partial(pressed_update, setup.ctx),
            # refused for a member's pace: wait for the shortest window it counts to pass
            flood_wait=min((span for _, span in pacing.chat_caps), default=MINUTE),
        )
        return Wired(
            routes=[Route(PATH, hook.endpoint, methods=["GET", "POST"])],
            sender=sender,
            pacing=pacing,
            # WeCom has no silent message, and each member sets their own do-not-disturb: in
            # quiet hours messages go as at any hour.
            quiet="ignore",
            close=http.aclose,
            handle=client,
        )
