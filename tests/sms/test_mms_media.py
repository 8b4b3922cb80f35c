"""An MMS's media: read from Twilio's form within bounds, fetched only from Twilio's own origin
(scheme, host and port), only as images, at most five; the rest counted, never fetched."""

from __future__ import annotations

import httpx
import pytest

from bot.sms.media import MAX_MEDIA, MediaFetcher, Medium, media_of

JPEG = b"\xff\xd8\xff\xe0" + bytes(64)
TWILIO = "https://203.0.113.7"  # a configured API root (a documentation address, not public)
SID, TOKEN = "AC" + "1" * 32, "2" * 32


def _form(count: str, *urls: str) -> dict[str, str]:
    form = {"NumMedia": count}
    for i, url in enumerate(urls):
        form[f"MediaUrl{i}"], form[f"MediaContentType{i}"] = url, "image/jpeg"
    return form


def test_the_form_announces_the_media_within_bounds() -> None:
    assert media_of(_form("2", "u0", "u1")) == (
        Medium("u0", "image/jpeg"),
        Medium("u1", "image/jpeg"),
    )
    assert media_of({}) == ()
    assert media_of(_form("-1", "u0")) == ()
    assert media_of(_form("two", "u0")) == ()
    assert len(media_of(_form("999999"))) == MAX_MEDIA  # never more than Twilio sends


def _fetcher(requests: list[httpx.Request]) -> MediaFetcher:
    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, content=JPEG, headers={"content-type": "image/jpeg"})

    return MediaFetcher(
        api_url=f"{TWILIO}/",
        account_sid=SID,
        auth_token=TOKEN,
        max_bytes=10_000,
        transport=httpx.MockTransport(answer),
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://203.0.113.7/2010-04-01/x",  # another scheme
        "https://203.0.113.7:8443/2010-04-01/x",  # another port
        "https://203.0.113.8/2010-04-01/x",  # another host
        "https://203.0.113.7.evil.example/x",
        "file:///etc/passwd",
        "https://203.0.113.7:99999/x",  # no port at all
        "",
    ],
)
async def test_media_off_twilios_origin_are_refused_unfetched(url: str) -> None:
    requests: list[httpx.Request] = []
    fetched = await _fetcher(requests)([Medium(url, "image/jpeg")])
    assert (fetched.photos, fetched.refused, requests) == ((), 1, [])


async def test_twilios_media_are_fetched_with_the_account_credentials() -> None:
    requests: list[httpx.Request] = []
    media = [Medium(f"{TWILIO}:443/Media/ME{i}", "image/jpeg") for i in range(7)]
    media[1] = Medium(f"{TWILIO}/Media/video", "video/mp4")  # not an image: not fetched
    fetched = await _fetcher(requests)(media)
    assert [p.content for p in fetched.photos] == [JPEG] * 4  # five looked at, one not an image
    assert {p.source for p in fetched.photos} == {"sms"}
    assert fetched.refused == 3  # the video and the two beyond five
    assert len(requests) == 4
    assert all(r.headers["authorization"].startswith("Basic ") for r in requests)
