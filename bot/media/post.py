"""POST a form to a URL someone gave us (a city's Open311 updates endpoint) within the fetches'
guard: every address the name has is checked public (or operator-allowed) and connected to as
checked, no redirect is followed, and the answer's body is not read beyond a few bytes."""

from __future__ import annotations

import asyncio

import httpx

from .fetch import FetchPolicy, tls
from .guard import checked_address
from .refusal import MalformedURL, Refused
from .urls import target_of

__all__ = ["Refused", "post_form"]


async def post_form(
    url: str,
    body: bytes,
    headers: dict[str, str],
    policy: FetchPolicy,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> int:
    """POST ``body`` (form-encoded) to ``url`` with ``headers``; the answer's status code, or
    ``Refused`` (``address``, ``scheme``, ``malformed``, ``unreachable``, ``timeout``)."""
    transport = transport or httpx.AsyncHTTPTransport(verify=tls())
    try:
        async with asyncio.timeout(policy.timeout), transport:
            target = target_of(url)
            address = await checked_address(target, policy.allowance, policy.resolver)
            host = f"[{address}]" if address.version == 6 else str(address)
            extensions: dict[str, object] = {"timeout": httpx.Timeout(policy.timeout).as_dict()}
            if target.literal is None:  # the certificate is checked against the name
                extensions["sni_hostname"] = target.host
            sent = {
                "Host": target.authority,
                "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
                "Accept-Encoding": "identity",
                "User-Agent": "wolaiban-open311",
                **headers,
            }
            try:
                address_url = httpx.URL(f"{target.scheme}://{host}:{target.port}{target.path}")
                request = httpx.Request(
                    "POST", address_url, headers=sent, content=body, extensions=extensions
                )
            except (httpx.InvalidURL, ValueError, UnicodeError) as error:
                raise MalformedURL(str(error)[:200]) from None
            if address_url.host != str(address):  # what we connect to is what was checked
                raise MalformedURL("the path changed the host")
            try:
                response = await transport.handle_async_request(request)
            except httpx.HTTPError as error:
                raise Refused("unreachable", type(error).__name__) from error
            await response.aclose()  # the status says it all; the body is not ours to read
            return response.status_code
    except TimeoutError as error:
        raise Refused("timeout", url[:200]) from error
