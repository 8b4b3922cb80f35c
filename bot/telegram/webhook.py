"""``POST /telegram/webhook``: the secret checked before the body is read, JSON only (its size
bounded by ``bot/bounds.py``), the answer only after the update's work is committed (a failure
answers 500, so Telegram delivers it again). A 200 may carry the answer to the button press as the
one Bot API method Telegram runs from a response."""

from __future__ import annotations

import hmac
import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from telegram import Update

from .answers import replying
from .handlers import TelegramGateway
from .wiring import TelegramApp

HEADER = "X-Telegram-Bot-Api-Secret-Token"
JSON = "application/json"
# What a body that is not an update raises on its way through json and PTB (a nesting deeper
# than the parser's recursion, a list or a string where an object belongs).
NOT_AN_UPDATE = (ValueError, TypeError, KeyError, AttributeError, RecursionError)


def declares_json(request: Request) -> bool:
    """Whether the body is declared JSON: ``application/json`` (Telegram's), or no type at all
    (read as JSON all the same; anything else is never parsed)."""
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    return kind in ("", JSON)


class TelegramWebhook:
    """The webhook endpoint for one Application."""

    def __init__(self, app: TelegramApp, gateway: TelegramGateway, secret: str) -> None:
        self._app, self._gateway, self._secret = app, gateway, secret.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI entry: Starlette's ``Route`` hands an object (not a function) the raw call."""
        response = await self.handle(Request(scope, receive))
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        """Handle one update."""
        given = request.headers.get(HEADER, "").encode()
        if not hmac.compare_digest(given, self._secret):
            return Response(status_code=403)
        if not declares_json(request):
            return Response(status_code=415)
        if not self._app.running:
            # Listening, but PTB is not started yet (or is stopping): Telegram posts the update
            # again later; taking it now would fail half-way.
            return Response(status_code=503, headers={"Retry-After": "1"})
        try:
            data = json.loads(await request.body())
            update = Update.de_json(data, self._app.bot) if isinstance(data, dict) else None
        except NOT_AN_UPDATE:
            update = None
        if update is None or type(update.update_id) is not int:
            # PTB builds an Update from any JSON object; an update_id that is not a number (a
            # list, a string) names no update of Telegram's.
            return Response(status_code=400)
        with replying() as reply:
            await self._app.process_update(update)
        if update.update_id in self._gateway.failed:
            self._gateway.failed.discard(update.update_id)
            return Response(status_code=500)  # and no method: nothing is answered of it
        if reply.call is not None:
            return JSONResponse(reply.call)  # the press answered without a call of our own
        return Response(status_code=200)
