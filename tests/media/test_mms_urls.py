"""An MMS's media URL is read as the fetch reads it: a malformed one is refused unfetched (and
counted), never an error of the webhook; Twilio's origin matches however its host is written."""

from __future__ import annotations

import httpx
import pytest

from bot.sms.media import MediaFetcher, Medium

JPEG = b"\xff\xd8\xff\xe0" + bytes(64)
TWILIO = "https://203.0.113.7"  # the configured API root (allowed although not public)


def _fetcher(requests: list[httpx.Request], location: str | None = None) -> MediaFetcher:
    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if location is not None and len(requests) == 1:
            return httpx.Response(302, headers={"location": location})
        return httpx.Response(200, content=JPEG, headers={"content-type": "image/jpeg"})

    return MediaFetcher(
        api_url=f"{TWILIO}/",
        account_sid="AC" + "1" * 32,
        auth_token="2" * 32,
        max_bytes=10_000,
        transport=httpx.MockTransport(answer),
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1",
        "https://[203.0.113.7/x",
        "https://203.0.113.7:abc/x",
        "https://203.0.113.7:99999/x",
        "https://203.0.113.7:0/x",
        "https://u:p@203.0.113.7/x",
        "https://203.0.113.7 /x",
        "https:///x",
    ],
)
async def test_a_malformed_medium_is_refused_unfetched(url: str) -> None:
    requests: list[httpx.Request] = []
    fetched = await _fetcher(requests)([Medium(url, "image/jpeg")])
    assert (fetched.photos, fetched.refused, requests) == ((), 1, [])


@pytest.mark.parametrize(
    "url",
    [
        "https://203.0.113.7./Media/ME1",
        "HTTPS://203.0.113.7:443/Media/ME1",
        "https://3405803783/Media/ME1",  # the same address as one number: the same server
    ],
)
async def test_twilios_origin_matches_however_written(url: str) -> None:
    requests: list[httpx.Request] = []
    fetched = await _fetcher(requests)([Medium(url, "image/jpeg")])
    assert [p.content for p in fetched.photos] == [JPEG]


@pytest.mark.parametrize(
    "location",
    ["http://169.254.169.254/", "http://[::a9fe:a9fe]/", "http://2130706433/", "http://[::1"],
)
async def test_twilios_redirect_to_a_refused_place_is_counted_not_fetched(location: str) -> None:
    requests: list[httpx.Request] = []
    fetched = await _fetcher(requests, location)([Medium(f"{TWILIO}/Media/ME1", "image/jpeg")])
    assert (fetched.photos, fetched.refused, len(requests)) == ((), 1, 1)
