"""A little image host on loopback for ``media_url``: an image, a page, a lie, a huge stream."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.media.unsized_image import unsized_jpeg

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


async def _png(request: Request) -> Response:
    return Response(PNG, media_type="image/png")


async def _page(request: Request) -> Response:
    return Response("<html>not an image</html>", media_type="text/html")


async def _lie(request: Request) -> Response:
    return Response(b"<svg onload=alert(1)>", media_type="image/png")


async def _huge(request: Request) -> Response:
    return unsized_jpeg(b"\xff\xd8\xff\xe0", blocks=100)


app = Starlette(
    routes=[
        Route("/photo.png", _png),
        Route("/page.html", _page),
        Route("/lie.png", _lie),
        Route("/huge.jpg", _huge),
    ]
)
