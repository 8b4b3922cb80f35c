"""An MMS's media: read from Twilio's webhook form, fetched from Twilio with the account's
credentials, kept as the case's photos.

Only media on the Twilio API's own origin (``TWILIO_API_URL``: its scheme, host and port) are
fetched; any other address is refused before a request is made, so a forged or replayed form
cannot point the server at another host. That configured host is allowed although it may be a
private address (the loopback emulator); Twilio's redirect to its media store is followed
without the credentials (``bot.media.fetch``: they go to the first origin only). At most
``MAX_FETCHED`` media, each within ``MEDIA_MAX_BYTES``, images only (read from the bytes); what is
refused or fails is counted, never fatal: the report is filed with the rest.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import httpx

from bot.media.fetch import FetchPolicy, Refused, fetch_image
from bot.media.guard import Allowance
from bot.media.images import IMAGE_TYPES
from bot.media.urls import target_of
from bot.services.cases.photos import MAX_FETCHED, NewPhoto

CHANNEL = "sms"
MAX_MEDIA = 10  # Twilio sends at most 10 media with one message

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Medium:
    """One medium of an MMS as Twilio announced it: where it is and the type it claims."""

    url: str
    content_type: str


@dataclass(frozen=True, slots=True)
class Fetched:
    """The photos taken from an MMS and how many of its media could not be taken."""

    photos: tuple[NewPhoto, ...] = ()
    refused: int = 0


def media_of(form: Mapping[str, str]) -> tuple[Medium, ...]:
    """The media a Twilio inbound form announces (``NumMedia``, ``MediaUrl<i>``,
    ``MediaContentType<i>``); a malformed count is no media."""
    count = form.get("NumMedia", "0").strip()
    number = min(int(count), MAX_MEDIA) if count.isdigit() else 0
    return tuple(
        Medium(form.get(f"MediaUrl{i}", ""), form.get(f"MediaContentType{i}", ""))
        for i in range(number)
    )


class MediaFetcher:
    """Fetches an MMS's media from Twilio, within the bounds above."""

    def __init__(
        self,
        *,
        api_url: str,
        account_sid: str,
        auth_token: str,
        max_bytes: int,
        allow: str = "",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._origin = _origin(api_url)
        allowance = Allowance.parse(f"{allow},{self._origin[1] if self._origin else ''}")
        self._policy = FetchPolicy(max_bytes=max_bytes, allowance=allowance)
        self._auth = (account_sid, auth_token)
        self._transport = transport

    async def __call__(self, media: Sequence[Medium]) -> Fetched:
        """The photos among ``media`` (in order), fetched at once; the rest counted."""
        taken = media[:MAX_FETCHED]
        found = await asyncio.gather(*(self._one(medium) for medium in taken))
        photos = tuple(photo for photo in found if photo is not None)
        return Fetched(photos, len(media) - len(photos))

    async def _one(self, medium: Medium) -> NewPhoto | None:
        declared = medium.content_type.split(";")[0].strip().lower()
        origin = _origin(medium.url)
        if origin is None or origin != self._origin:
            log.warning("an MMS medium not on Twilio's origin was refused unfetched")
            return None
        if declared not in IMAGE_TYPES:
            log.info("an MMS medium of type %r is not an image: not fetched", declared[:40])
            return None
        try:
            image = await fetch_image(
                medium.url, self._policy, auth=self._auth, transport=self._transport
            )
        except Refused as refused:
            log.warning("an MMS medium could not be taken: %s", refused.reason)
            return None
        return NewPhoto(
            source=CHANNEL,
            content=image.content,
            content_type=image.content_type,
            size=len(image.content),
        )


def _origin(url: str) -> tuple[str, str, int] | None:
    """Scheme, host and port, read as the fetch reads them; None for what is no http(s) URL."""
    try:
        return target_of(url).origin
    except Refused:  # a malformed URL (an invalid port, an unclosed bracket) matches no origin
        return None
