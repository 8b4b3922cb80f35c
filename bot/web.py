"""The HTTP server: health and readiness now; the Telegram and Twilio webhooks plug in here."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot.services.context import ServiceContext


def create_web_app(ctx: ServiceContext, routes: Sequence[BaseRoute] = ()) -> Starlette:
    """The Starlette app: ``/healthz``, ``/readyz`` and the channels' ``routes`` (webhooks)."""

    async def healthz(_request: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(_request: Request) -> Response:
        try:
            async with ctx.db.reading() as session:
                await session.exec(text("SELECT 1"))  # type: ignore[call-overload]
        except Exception as error:  # any database failure means "not ready", with its reason
            return JSONResponse({"ready": False, "database": str(error)}, status_code=503)
        return JSONResponse({"ready": True, "database": "ok"})

    return Starlette(routes=[Route("/healthz", healthz), Route("/readyz", readyz), *routes])
