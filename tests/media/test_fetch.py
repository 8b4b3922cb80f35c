"""A URL someone gave us is fetched only from where it may be, only as an image, only so big."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from bot.media.fetch import FetchPolicy, Refused, fetch_image
from bot.media.guard import Allowance, public
from sandbox.serve import serving
from tests.media.unsized_image import unsized_jpeg

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\1" * 64
seen_auth: list[str | None] = []


async def _png(request: Request) -> Response:
    seen_auth.append(request.headers.get("authorization"))
    return Response(PNG, media_type="image/png")


async def _html(request: Request) -> Response:
    return Response("<html>hi</html>", media_type="text/html")


async def _lying(request: Request) -> Response:
    return Response(b"<svg onload=alert(1)>", media_type="image/png")


async def _huge(request: Request) -> Response:
    return unsized_jpeg(JPEG, blocks=200)  # no Content-Length


async def _redirect(request: Request) -> Response:
    return RedirectResponse(request.query_params["to"], status_code=302)


app = Starlette(
    routes=[
        Route("/a.png", _png),
        Route("/page", _html),
        Route("/lie.png", _lying),
        Route("/huge.jpg", _huge),
        Route("/go", _redirect),
        Route("/missing", lambda request: Response(status_code=404)),
    ]
)
LOOPBACK = FetchPolicy(allowance=Allowance.parse("127.0.0.1"), max_bytes=1_000_000)


@pytest.fixture
async def base() -> AsyncIterator[str]:
    seen_auth.clear()
    async with serving(app) as url:
        yield url


async def refusal(url: str, policy: FetchPolicy = LOOPBACK) -> str:
    with pytest.raises(Refused) as caught:
        await fetch_image(url, policy)
    return caught.value.reason


async def test_an_image_from_an_allowed_host_arrives_with_its_type(base: str) -> None:
    image = await fetch_image(f"{base}/a.png", LOOPBACK)
    assert (image.content, image.content_type) == (PNG, "image/png")


async def test_loopback_is_refused_unless_the_operator_allows_it(base: str) -> None:
    assert await refusal(f"{base}/a.png", FetchPolicy()) == "address"
    port = base.rsplit(":", 1)[1]
    # A name that resolves to loopback is no way round it.
    assert await refusal(f"http://localhost:{port}/a.png", FetchPolicy()) == "address"
    assert seen_auth == []  # nothing reached the server


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/a.png",
        "http://192.168.1.1/a.png",
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://[::1]/a.png",
        "http://[::ffff:127.0.0.1]/a.png",  # loopback dressed as IPv6
        "http://0.0.0.0/a.png",
        "http://100.64.0.1/a.png",  # carrier-grade NAT
    ],
)
async def test_private_and_special_addresses_are_refused(url: str) -> None:
    assert await refusal(url, FetchPolicy()) == "address"


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://example.com/a.png", "gopher://x/", "http://u:p@h/a.png"]
)
async def test_other_schemes_and_credentials_in_urls_are_refused(url: str) -> None:
    assert await refusal(url) == "scheme"


async def test_a_page_or_a_lie_about_the_type_is_not_an_image(base: str) -> None:
    assert await refusal(f"{base}/page") == "not_image"
    assert await refusal(f"{base}/lie.png") == "not_image"


async def test_a_body_past_the_limit_is_cut_off(base: str) -> None:
    assert await refusal(f"{base}/huge.jpg") == "too_large"


async def test_a_redirect_to_a_place_not_allowed_is_refused(base: str) -> None:
    port = base.rsplit(":", 1)[1]
    # 127.0.0.2 is this machine too, but the operator allowed only 127.0.0.1.
    assert await refusal(f"{base}/go?to=http://127.0.0.2:{port}/a.png") == "address"
    assert await refusal(f"{base}/missing") == "status"


async def test_credentials_go_to_the_first_origin_only(base: str) -> None:
    both = FetchPolicy(allowance=Allowance.parse("127.0.0.1, 127.0.0.2"))
    await fetch_image(f"{base}/a.png", both, auth=("AC1", "token"))
    async with serving(app, host="127.0.0.2") as elsewhere:
        await fetch_image(f"{base}/go?to={elsewhere}/a.png", both, auth=("AC1", "token"))
    assert (seen_auth[0] or "").startswith("Basic ")
    assert seen_auth[1] is None  # the redirect left the origin: no credentials followed it


async def test_too_many_redirects_stop(base: str) -> None:
    loop = f"{base}/go?to={base}/go%3Fto%3D{base}/a.png"
    policy = FetchPolicy(allowance=LOOPBACK.allowance, max_redirects=1)
    assert await refusal(loop, policy) == "redirects"


def test_public_means_globally_routable() -> None:
    assert public(ipaddress.ip_address("8.8.8.8"))
    assert not public(ipaddress.ip_address("::ffff:10.1.2.3"))
    assert not public(ipaddress.ip_address("224.0.0.1"))


@pytest.mark.parametrize("form", ["2130706433", "0x7f000001", "0177.0.0.1", "127.1", "127.0.0.1."])
async def test_every_form_of_an_allowed_address_reaches_that_address(base: str, form: str) -> None:
    port = base.rsplit(":", 1)[1]
    image = await fetch_image(f"http://{form}:{port}/a.png", LOOPBACK)
    assert image.content == PNG  # served by the server on 127.0.0.1, the address allowed


@pytest.mark.parametrize("form", ["2130706434", "0x7f000002", "0177.0.0.2", "127.2", "[::1]"])
async def test_every_form_of_another_loopback_address_is_refused(base: str, form: str) -> None:
    port = base.rsplit(":", 1)[1]
    assert await refusal(f"http://{form}:{port}/a.png") == "address"
    assert await refusal(f"{base}/go?to=http://{form}:{port}/a.png") == "address"
    assert seen_auth == []  # nothing but the redirect was served


@pytest.mark.parametrize(
    "location", ["http://127.0.0.1:99999/a.png", "http://127.0.0.1:abc/", "http://[::1"]
)
async def test_a_malformed_redirect_from_a_real_server_is_malformed(
    base: str, location: str
) -> None:
    assert await refusal(f"{base}/go?to={location}") == "malformed"
