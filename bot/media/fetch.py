"""Fetch an image someone pointed us at (an MMS's media, an Open311 ``media_url``), within bounds.

Refusals (``guard.Refused.reason``): ``scheme`` (not http/https, or credentials in the URL),
``address`` (not public and not allowed), ``unreachable``, ``status`` (not 200), ``redirects``,
``too_large``, ``not_image``, ``timeout``.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import httpx

from .guard import Allowance, Refused, checked_address
from .images import image_type

__all__ = ["FetchPolicy", "Image", "Refused", "fetch_image"]


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    """How far a fetch may go: bytes, time, redirects, and the operator's allowed hosts."""

    max_bytes: int = 5_000_000
    timeout: float = 10.0
    max_redirects: int = 3
    allowance: Allowance = field(default_factory=Allowance)


@dataclass(frozen=True, slots=True)
class Image:
    """An image that arrived: its bytes and its type, checked against the bytes themselves."""

    content: bytes
    content_type: str
    url: str


async def fetch_image(
    url: str,
    policy: FetchPolicy,
    *,
    auth: tuple[str, str] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Image:
    """GET ``url`` as an image or raise ``Refused``; ``auth`` goes to the URL's own origin only."""
    try:
        async with asyncio.timeout(policy.timeout):
            async with httpx.AsyncClient(
                transport=transport, follow_redirects=False, timeout=policy.timeout
            ) as client:
                return await _follow(client, url, policy, auth)
    except TimeoutError as error:
        raise Refused("timeout", url) from error


async def _follow(
    client: httpx.AsyncClient, url: str, policy: FetchPolicy, auth: tuple[str, str] | None
) -> Image:
    """Each hop checked anew; credentials dropped when a redirect leaves the first origin."""
    origin = _origin(url)
    for _ in range(policy.max_redirects + 1):
        hop_auth = auth if _origin(url) == origin else None
        async with _Pinned(client, url, policy, hop_auth) as response:
            if response.is_redirect and "location" in response.headers:
                url = urljoin(url, response.headers["location"])
                continue
            if response.status_code != 200:
                raise Refused("status", str(response.status_code))
            content = await _body(response, policy.max_bytes)
            declared = response.headers.get("content-type", "").split(";")[0].strip().lower()
            kind = image_type(content)
            if kind is None or (declared and declared != kind):
                raise Refused("not_image", declared or "unknown")
            return Image(content, kind, url)
    raise Refused("redirects", str(policy.max_redirects))


class _Pinned:
    """A streamed GET: resolve, check, connect to that address (Host and SNI keep the name)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        url: str,
        policy: FetchPolicy,
        auth: tuple[str, str] | None,
    ) -> None:
        self._client, self._url, self._policy, self._auth = client, url, policy, auth
        self._response: httpx.Response | None = None

    async def __aenter__(self) -> httpx.Response:
        parts = urlsplit(self._url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise Refused("scheme", parts.scheme or "none")
        if parts.username or parts.password:
            raise Refused("scheme", "credentials in the URL")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = await checked_address(parts.hostname, port, self._policy.allowance)
        literal = f"[{address}]" if address.version == 6 else str(address)
        pinned = httpx.URL(self._url).copy_with(host=literal.strip("[]"))
        request = self._client.build_request(
            "GET",
            pinned,
            headers={"Host": parts.netloc.rsplit("@", 1)[-1], "Accept": "image/*"},
            extensions={"sni_hostname": parts.hostname},
        )
        if self._auth is not None:
            token = base64.b64encode(":".join(self._auth).encode()).decode()
            request.headers["Authorization"] = f"Basic {token}"
        try:
            self._response = await self._client.send(request, stream=True)
        except httpx.HTTPError as error:
            raise Refused("unreachable", type(error).__name__) from error
        return self._response

    async def __aexit__(self, *exc: object) -> None:
        if self._response is not None:
            await self._response.aclose()


async def _body(response: httpx.Response, limit: int) -> bytes:
    """The body, refused as soon as it (or its declared length) passes ``limit``."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise Refused("too_large", declared)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise Refused("too_large", f"> {limit}")
            chunks.append(chunk)
    except httpx.HTTPError as error:
        raise Refused("unreachable", type(error).__name__) from error
    return b"".join(chunks)


def _origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port: where credentials may go."""
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or ""), parts.port
