"""The Telegram channel: PTB's Application (polling, or the webhook route), the handlers, the
sender paced per chat; it edits its earlier messages (the case cards)."""

from __future__ import annotations

import contextlib
from functools import partial

from starlette.routing import BaseRoute, Route

from bot.adapter import Wired, Wiring
from bot.config import Settings
from bot.delivery import attachments
from bot.delivery.pacing import Limits
from bot.services.unit.traits import ChannelTraits

TRAITS = ChannelTraits("telegram", edits_messages=True, photos=True, id_prefix="tg")


class TelegramAdapter:
    """Telegram, on when ``TELEGRAM_BOT_TOKEN`` is set."""

    traits = TRAITS

    def enabled(self, settings: Settings) -> bool:
        """On with a bot token."""
        return settings.telegram_bot_token is not None

    def wire(self, setup: Wiring) -> Wired:
        """The Application, its webhook route in webhook mode, and the paced sender."""
        # PTB is imported by the process that runs Telegram, not by every command.
        from bot.telegram.sender import TelegramSender

        from . import wiring
        from .handlers import TelegramGateway
        from .webhook import TelegramWebhook

        settings, pacing = setup.settings, setup.pacing

        gateway = TelegramGateway(
            setup.ctx, kick=setup.kick, default_language=settings.default_language
        )
        app = wiring.build_application(settings, gateway)
        routes: list[BaseRoute] = []
        if settings.telegram_webhook_url and settings.telegram_webhook_secret:
            secret = settings.telegram_webhook_secret.get_secret_value()
            hook = TelegramWebhook(app, gateway, secret)
            routes.append(Route("/telegram/webhook", hook, methods=["POST"]))

        async def start() -> None:
            await wiring.start(app, settings)

        async def stop() -> None:
            with contextlib.suppress(Exception):  # stopping must go on whatever Telegram says
                await wiring.stop(app)

        return Wired(
            routes=routes,
            sender=TelegramSender(app.bot, remember=partial(attachments.remember, setup.ctx)),
            pacing=pacing
            or Limits(
                per_second=settings.telegram_per_second,
                chat_interval=settings.telegram_chat_interval,
                group_per_minute=settings.telegram_group_per_minute,
            ),
            quiet="silently",
            start=start,
            stop=stop,
            handle=app,
        )
