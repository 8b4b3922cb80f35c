"""The running process, wired: HTTP server, Telegram (polling or webhook) and outbox delivery on
one event loop. ``wolaiban run``, the demo and the end-to-end tests all start this same stack."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from zoneinfo import ZoneInfo

import uvicorn
from starlette.routing import Route

from bot.config import Settings
from bot.delivery.dispatcher import Dispatcher
from bot.delivery.dispatcher import Settings as DeliverySettings
from bot.delivery.pacing import Limits, Pacer
from bot.delivery.sms_sender import SmsSender
from bot.delivery.telegram_sender import TelegramSender
from bot.services.context import ServiceContext
from bot.services.levels import quiet_now, quiet_until
from bot.sms.webhook import SMS_PATH, STATUS_PATH, TwilioWebhooks
from bot.telegram import wiring
from bot.telegram.handlers import TelegramGateway
from bot.telegram.webhook import TelegramWebhook
from bot.web import create_web_app
from core.cases import Channel
from scheduler.jobs import Clockwork

log = logging.getLogger("wolaiban")


class Kicker:
    """Wakes the dispatchers once a transaction that wrote to the outbox is committed."""

    def __init__(self) -> None:
        self._wakers: list[Callable[[], None]] = []

    def add(self, waker: Callable[[], None]) -> None:
        """Wake ``waker`` too."""
        self._wakers.append(waker)

    def __call__(self) -> None:
        for wake in self._wakers:
            wake()


class Stack:
    """All that ``wolaiban run`` runs, with ``start`` and ``stop`` for the tests and the demo."""

    def __init__(
        self,
        settings: Settings,
        ctx: ServiceContext,
        *,
        telegram_limits: Limits | None = None,
        delivery: DeliverySettings | None = None,
        scheduled_digests: bool = True,
    ) -> None:
        self.settings, self.ctx = settings, ctx
        self.kick = Kicker()
        self.dispatchers: list[Dispatcher] = []
        routes: list[Route] = []
        self.telegram: wiring.TelegramApp | None = None
        if settings.telegram_bot_token is not None:
            gateway = TelegramGateway(
                ctx, kick=self.kick, default_language=settings.default_language
            )
            self.telegram = wiring.build_application(settings, gateway)
            dispatcher = Dispatcher(
                ctx,
                channel=Channel.TELEGRAM,
                sender=TelegramSender(self.telegram.bot),
                pacer=Pacer(
                    telegram_limits
                    or Limits(
                        per_second=settings.telegram_per_second,
                        chat_interval=settings.telegram_chat_interval,
                        group_per_minute=settings.telegram_group_per_minute,
                    )
                ),
                settings=delivery or DeliverySettings(),
                quiet_now=lambda: quiet_now(ctx),
                on_fallback=self.kick,
            )
            self.kick.add(dispatcher.kick)
            self.dispatchers.append(dispatcher)
            if settings.telegram_webhook_url and settings.telegram_webhook_secret:
                secret = settings.telegram_webhook_secret.get_secret_value()
                hook = TelegramWebhook(self.telegram, gateway, secret)
                routes.append(Route("/telegram/webhook", hook, methods=["POST"]))
        self.sms_sender: SmsSender | None = None
        if settings.sms_enabled:
            routes += self._sms(settings, ctx, delivery or DeliverySettings())
        self.clockwork = Clockwork(
            ctx,
            tz=ZoneInfo(settings.timezone),
            sweep_seconds=settings.sweep_seconds,
            on_work=self.kick,
            language=settings.default_language,
            digests=scheduled_digests,
        )
        self.web = create_web_app(ctx, routes)
        self._server = uvicorn.Server(
            uvicorn.Config(
                self.web,
                host=settings.http_host,
                port=settings.http_port,
                log_level="warning",
                lifespan="off",
            )
        )
        self._tasks: list[asyncio.Task[None]] = []

    def _sms(
        self, settings: Settings, ctx: ServiceContext, delivery: DeliverySettings
    ) -> list[Route]:
        """The SMS dispatcher and Twilio's two webhooks."""
        assert settings.twilio_account_sid is not None
        assert settings.twilio_auth_token is not None
        token = settings.twilio_auth_token.get_secret_value()
        public = settings.public_url.rstrip("/")
        self.sms_sender = SmsSender(
            account_sid=settings.twilio_account_sid,
            auth_token=token,
            api_url=settings.twilio_api_url,
            sender=settings.sms_sender,
            status_callback=f"{public}{STATUS_PATH}",
        )
        rate = settings.sms_per_second
        dispatcher = Dispatcher(
            ctx,
            channel=Channel.SMS,
            sender=self.sms_sender,
            pacer=Pacer(Limits(per_second=rate, chat_interval=1 / rate)),
            settings=delivery,
            hold_until=lambda: quiet_until(ctx),
        )
        self.kick.add(dispatcher.kick)
        self.dispatchers.append(dispatcher)
        hooks = TwilioWebhooks(ctx, auth_token=token, public_url=public, kick=self.kick)
        return [
            Route(SMS_PATH, hooks.inbound, methods=["POST"]),
            Route(STATUS_PATH, hooks.status, methods=["POST"]),
        ]

    @property
    def port(self) -> int:
        """The port the HTTP server listens on (useful with port 0)."""
        return int(self._server.servers[0].sockets[0].getsockname()[1])

    async def start(self) -> None:
        """Listen, then start Telegram and delivery."""
        self._tasks.append(asyncio.create_task(self._server.serve()))
        while not self._server.started:
            if self._tasks[0].done():
                self._tasks[0].result()  # why it could not listen
                raise RuntimeError("the HTTP server stopped before it started")
            await asyncio.sleep(0.01)
        if self.telegram is not None:
            await wiring.start(self.telegram, self.settings)
        self._tasks += [asyncio.create_task(d.run()) for d in self.dispatchers]
        await self.clockwork.start()
        self.kick()  # whatever waited in the outbox while we were down goes now

    async def wait(self) -> None:
        """Until the HTTP server stops (Ctrl+C, SIGTERM)."""
        await self._tasks[0]

    async def stop(self) -> None:
        """Stop taking updates, finish the sends in flight, close the server."""
        await self.clockwork.stop()
        if self.telegram is not None:
            with contextlib.suppress(Exception):  # stopping must go on whatever Telegram says
                await wiring.stop(self.telegram)
        for dispatcher in self.dispatchers:
            await dispatcher.stop()
        if self.sms_sender is not None:
            await self.sms_sender.close()
        self._server.should_exit = True
        await asyncio.gather(*self._tasks, return_exceptions=True)
