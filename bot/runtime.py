"""The running process, wired: HTTP server, Telegram (polling or webhook) and outbox delivery on
one event loop. ``wolaiban run``, the demo and the end-to-end tests all start this same stack."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import uvicorn
from starlette.routing import BaseRoute

from bot import openapi
from bot.adapter import Adapter, Wired, Wiring
from bot.bounds import HEAD_MAX_BYTES
from bot.channels import REGISTRY
from bot.config import Settings
from bot.connections import bounded_h11
from bot.console.routes import console_routes
from bot.delivery.dispatcher import Dispatcher
from bot.delivery.dispatcher import Settings as DeliverySettings
from bot.delivery.pacing import Limits, Pacer
from bot.services.cases.routing import quiet_now, quiet_until
from bot.services.unit.context import ServiceContext
from bot.web import create_web_app
from scheduler.jobs import Clockwork, DataJobs

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
        adapters: Sequence[Adapter] = REGISTRY,
        pacing: Mapping[str, Limits] | None = None,
        delivery: DeliverySettings | None = None,
        scheduled_digests: bool = True,
        scheduled_data: bool = True,
    ) -> None:
        """``adapters``: the channels to run (the registry's; a test may add its own);
        ``pacing``: per channel name, limits instead of the channel's own."""
        self.settings, self.ctx = settings, ctx
        self.kick = Kicker()
        self.dispatchers: list[Dispatcher] = []
        self.channels: dict[str, Wired] = {}
        routes: list[BaseRoute] = []
        for adapter in adapters:
            if not adapter.enabled(settings):
                continue
            name = adapter.traits.name
            wired = adapter.wire(Wiring(settings, ctx, self.kick, (pacing or {}).get(name)))
            self.channels[name] = wired
            routes += wired.routes
            if wired.sender is not None:
                self._dispatch(name, wired, delivery or DeliverySettings())
        self.clockwork = Clockwork(
            ctx,
            tz=ZoneInfo(settings.timezone),
            sweep_seconds=settings.sweep_seconds,
            on_work=self.kick,
            language=settings.default_language,
            digests=scheduled_digests,
            # the daily retention and backup (off for the harness: no catch-up run mid-test)
            data=DataJobs.of(settings) if scheduled_data else None,
        )
        routes += console_routes(settings, ctx, self.kick)
        routes += openapi.routes()  # GET /openapi.json: what an integrator may call
        self._console_links()
        self.web = create_web_app(ctx, routes, settings=settings)
        self._server = uvicorn.Server(
            uvicorn.Config(
                self.web,
                host=settings.http_host,
                port=settings.http_port,
                log_level="warning",
                # uvicorn's own logging set-up would give its loggers handlers of their own that
                # bypass ours (bot/logs.py), and a traceback's phones and tokens with them.
                log_config=None,
                lifespan="off",
                # h11 whether or not httptools is installed, with a deadline on the headers and a
                # lingering close (bot/connections.py), and its limit on a head arriving in
                # pieces; no WebSocket is served.
                http=bounded_h11(settings.http_body_seconds),
                h11_max_incomplete_event_size=HEAD_MAX_BYTES,
                ws="none",
            )
        )
        self._tasks: list[asyncio.Task[None]] = []

    def _console_links(self) -> None:
        """Tell the Telegram handlers where console sign-in links point (None: it is off)."""
        app = self.telegram
        if app is not None:
            from bot.telegram.handlers import CONSOLE_URL

            on = self.settings.console_enabled
            app.bot_data[CONSOLE_URL] = self.settings.public_url.rstrip("/") if on else None

    def _dispatch(self, name: str, wired: Wired, delivery: DeliverySettings) -> None:
        """A dispatcher for a channel that sends, with its quiet-hours rule."""
        ctx = self.ctx
        assert wired.sender is not None
        dispatcher = Dispatcher(
            ctx,
            channel=name,
            sender=wired.sender,
            pacer=Pacer(wired.pacing),
            settings=delivery,
            quiet_now=(lambda: quiet_now(ctx)) if wired.quiet == "silently" else None,
            hold_until=(lambda: quiet_until(ctx)) if wired.quiet == "hold" else None,
            on_fallback=self.kick,
        )
        self.kick.add(dispatcher.kick)
        self.dispatchers.append(dispatcher)

    @property
    def telegram(self) -> Any:
        """The PTB Application when Telegram runs (for the tests), else None."""
        wired = self.channels.get("telegram")
        return wired.handle if wired is not None else None

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
        for wired in self.channels.values():
            if wired.start is not None:
                await wired.start()
        self._tasks += [asyncio.create_task(d.run()) for d in self.dispatchers]
        await self.clockwork.start()
        self.kick()  # whatever waited in the outbox while we were down goes now

    async def wait(self) -> None:
        """Until the HTTP server stops (Ctrl+C, SIGTERM)."""
        await self._tasks[0]

    async def stop(self) -> None:
        """Stop taking updates, finish the sends in flight, close the server."""
        await self.clockwork.stop()
        for wired in self.channels.values():  # no more updates in
            if wired.stop is not None:
                await wired.stop()
        for dispatcher in self.dispatchers:
            await dispatcher.stop()
        for wired in self.channels.values():
            if wired.close is not None:
                await wired.close()
        self._server.should_exit = True
        await asyncio.gather(*self._tasks, return_exceptions=True)
