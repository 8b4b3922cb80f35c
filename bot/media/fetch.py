"""Fetch an image someone pointed us at (an MMS's media, an Open311 ``media_url``), within bounds.

Refusals (``Refused.reason``): ``malformed`` (no well-formed URL: a bad port, an unclosed bracket,
no host, a zone id; ``MalformedURL``), ``scheme`` (not http/https, or credentials in the URL),
``address`` (not global unicast and not allowed), ``unreachable``, ``status`` (not 200),
``redirects``, ``encoding`` (a compressed body although we asked for none), ``too_large``,
``not_image``, ``timeout``. Every hop of a redirect is read and checked as the first URL was.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import ssl
from dataclasses import dataclass, field

import httpx

from .guard import Allowance, checked_address
from .images import image_type
from .ranges import Address
from .refusal import MalformedURL, Refused
from .resolver import Resolver, shared_resolver
from .urls import Target, joined, target_of

__all__ = ["FetchPolicy", "Image", "MalformedURL", "Refused", "fetch_image"]


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    """How far a fetch may go: bytes, time, redirects, the operator's allowed hosts, lookups."""

    max_bytes: int = 5_000_000
    timeout: float = 10.0
    max_redirects: int = 3
    allowance: Allowance = field(default_factory=Allowance)
    resolver: Resolver = field(default_factory=shared_resolver)


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
    # The transport itself, not a client: a client reads a redirect's Location with its own
    # parser (and fails on what ours refuses), and would take a proxy from the environment.
    transport = transport or httpx.AsyncHTTPTransport(verify=tls())
    try:
        async with asyncio.timeout(policy.timeout), transport:
            return await _follow(transport, url, policy, auth)
    except TimeoutError as error:
        raise Refused("timeout", url[:200]) from error


async def _follow(
    transport: httpx.AsyncBaseTransport,
    url: str,
    policy: FetchPolicy,
    auth: tuple[str, str] | None,
) -> Image:
    """Each hop read and checked anew; credentials dropped when a redirect leaves the origin."""
    target = target_of(url)
    origin = target.origin
    for _ in range(policy.max_redirects + 1):
        address = await checked_address(target, policy.allowance, policy.resolver)
        request = _request(target, address, auth if target.origin == origin else None, policy)
        try:
            response = await transport.handle_async_request(request)
        except httpx.HTTPError as error:
            raise Refused("unreachable", type(error).__name__) from error
        response.request = request
        try:
            if response.is_redirect and "location" in response.headers:
                target = joined(target.url, response.headers["location"])
                continue
            if response.status_code != 200:
                raise Refused("status", str(response.status_code))
            content = await _body(response, policy.max_bytes)
        finally:
            await response.aclose()
        declared = response.headers.get("content-type", "").split(";")[0].strip().lower()
        kind = image_type(content)
        if kind is None or (declared and declared != kind):
            raise Refused("not_image", declared or "unknown")
        return Image(content, kind, target.url)
    raise Refused("redirects", str(policy.max_redirects))


def _request(
    target: Target, address: Address, auth: tuple[str, str] | None, policy: FetchPolicy
) -> httpx.Request:
    """A GET to the checked ``address``; ``Host`` and TLS's SNI keep the name."""
    host = f"[{address}]" if address.version == 6 else str(address)
    headers = {
        "Host": target.authority,
        "Accept": "image/*",
        # Nothing compressed: a small gzip body can unpack to any size (see ``_body``).
        "Accept-Encoding": "identity",
        "User-Agent": "wolaiban-media",
    }
    if auth is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(":".join(auth).encode()).decode()
    extensions: dict[str, object] = {"timeout": httpx.Timeout(policy.timeout).as_dict()}
    if target.literal is None:  # a name's certificate is checked against the name
        extensions["sni_hostname"] = target.host
    try:
        url = httpx.URL(f"{target.scheme}://{host}:{target.port}{target.path}")
        request = httpx.Request("GET", url, headers=headers, extensions=extensions)
    except (httpx.InvalidURL, ValueError, UnicodeError) as error:
        raise MalformedURL(str(error)[:200]) from None
    if url.host != str(address):  # what we connect to is exactly what was checked
        raise MalformedURL("the path changed the host")
    return request


async def _body(response: httpx.Response, limit: int) -> bytes:
    """The body as sent, refused as soon as it (or its declared length) passes ``limit``.

    Never decompressed: a compressed body is refused before a byte of it is read, so a 200 KB
    gzip body that unpacks to 200 MB costs nothing (we asked for ``identity``; an image is
    compressed already, a server that compresses it again gains nothing).
    """
    encoding = response.headers.get("content-encoding", "").strip().lower()
    if encoding not in ("", "identity"):
        raise Refused("encoding", encoding[:40])
    declared = response.headers.get("content-length", "").strip()
    if declared.isascii() and declared.isdigit() and (len(declared) > 18 or int(declared) > limit):
        raise Refused("too_large", declared[:40])
    body = bytearray()
    try:
        # With no Content-Encoding (checked above) httpx's decoder is the identity.
        async for chunk in response.aiter_bytes():
            if len(body) + len(chunk) > limit:
                raise Refused("too_large", f"> {limit}")
            body += chunk
    except httpx.HTTPError as error:
        raise Refused("unreachable", type(error).__name__) from error
    return bytes(body)


@functools.cache
def tls() -> ssl.SSLContext:
    """One TLS context for every fetch: loading the CA bundle costs more than the fetch's setup."""
    return httpx.create_ssl_context()
