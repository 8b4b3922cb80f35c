"""A little image host on loopback for ``media_url``: an image, a page, a lie, a huge stream."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


async def _png(request: Request) -> Response:
    return Response(PNG, media_type="image/png")


async def _page(request: Request) -> Response:
    return Response("<html>not an image</html>", media_type="text/html")


async def _lie(request: Request) -> Response:
    return Response(b"<svg onload=alert(1)>", media_type="image/png")


async def _huge(request: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"\xff\xd8\xff\xe0"
        for _ in range(100):
            yield b"\0" * 65_536

    return StreamingResponse(chunks(), media_type="image/jpeg")


app = Starlette(
    routes=[
        Route("/photo.png", _png),
        Route("/page.html", _page),
        Route("/lie.png", _lie),
        Route("/huge.jpg", _huge),
    ]
)
