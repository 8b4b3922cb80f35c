"""A URL we were given, read once into what a fetch needs: scheme, host, port, path.

Every written form of a host is read here the way a browser or ``inet_aton`` would, so the guard
checks the address a connection would really go to: ``2130706433``, ``0x7f000001``,
``0177.0.0.1`` and ``127.1`` are all 127.0.0.1; ``１２７．０．０．１`` is too (IDNA maps it);
a trailing dot is dropped. What cannot be read so — a bad port, an unclosed bracket, a zone id,
credentials, another scheme — is refused here, typed, before any lookup or connection.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import idna

from .refusal import MalformedURL, Refused

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_URL = 4096  # longer than any image URL a phone or a city system hands out
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_NUMBER = re.compile(r"[0-9]+|0[xX][0-9a-fA-F]*")  # a label that makes the host an IPv4 address
_PORT = re.compile(r"[0-9]{1,5}")
# C0 controls, space, DEL: ``urlsplit`` silently drops some of them, another parser may not.
_UNSAFE = re.compile(r"[\x00-\x20\x7f]")
_STRIPPED = "".join(map(chr, range(0x21)))  # what a browser trims from both ends of a URL


@dataclass(frozen=True, slots=True)
class Target:
    """Where a URL points: ``host`` is ASCII, lower case, without a trailing dot or brackets."""

    scheme: str
    host: str
    port: int
    path: str  # the path and query, at least "/"; never a fragment
    literal: Address | None  # the address when the host is written as one (in any form)

    @property
    def origin(self) -> tuple[str, str, int]:
        """Scheme, host and port: where credentials may go."""
        return self.scheme, self.host, self.port

    @property
    def authority(self) -> str:
        """The ``Host`` header: the host (bracketed if IPv6) and a port that is not the default."""
        host = f"[{self.host}]" if isinstance(self.literal, ipaddress.IPv6Address) else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    @property
    def url(self) -> str:
        """The URL as read: what a relative redirect is taken from."""
        return f"{self.scheme}://{self.authority}{self.path}"


def target_of(url: str) -> Target:
    """``url`` read as an http(s) URL, or ``Refused`` (``MalformedURL`` when it is no URL)."""
    url = url.strip(_STRIPPED)
    if len(url) > MAX_URL:
        raise MalformedURL(f"longer than {MAX_URL} characters")
    if _UNSAFE.search(url):
        raise MalformedURL("whitespace or a control character")
    try:
        parts = urlsplit(url)
    except ValueError as error:  # an unclosed or misused bracket
        raise MalformedURL(str(error)) from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise Refused("scheme", scheme or "none")
    if "\\" in parts.netloc:  # a browser reads it as "/", urlsplit does not: no such ambiguity
        raise MalformedURL("a backslash in the host")
    if "@" in parts.netloc:
        raise Refused("scheme", "credentials in the URL")
    host_text, port = _authority(parts.netloc, scheme)
    host, literal = normal_host(host_text)
    path = parts.path or "/"
    return Target(scheme, host, port, path + (f"?{parts.query}" if parts.query else ""), literal)


def joined(base: str, location: str) -> Target:
    """Where a redirect's ``Location`` points from ``base``; refused like any URL we are given."""
    try:
        url = urljoin(base, location.strip())
    except ValueError as error:
        raise MalformedURL(str(error)) from None
    return target_of(url)


def _authority(netloc: str, scheme: str) -> tuple[str, int]:
    """The host as written and the port (the scheme's default when none is written)."""
    if netloc.startswith("["):
        close = netloc.find("]")
        host, rest = netloc[: close + 1], netloc[close + 1 :]
        if close < 0 or (rest and not rest.startswith(":")):
            raise MalformedURL("a bracket that does not close the host")
        port_text = rest[1:]
    else:
        host, _, port_text = netloc.partition(":")
    if not port_text:
        return host, DEFAULT_PORTS[scheme]
    if not _PORT.fullmatch(port_text) or not 0 < int(port_text) < 65536:
        raise MalformedURL(f"port {port_text[:12]!r}")
    return host, int(port_text)


def normal_host(text: str) -> tuple[str, Address | None]:
    """A host as written → (ASCII lower-case host, its address when it is written as one)."""
    if not text:
        raise MalformedURL("no host")
    if text.startswith("["):
        inner = text[1:-1]
        if "%" in inner:  # a zone names an interface of this machine: never a public host
            raise MalformedURL("a zone id in the host")
        try:
            v6 = ipaddress.IPv6Address(inner)
        except ValueError:
            raise MalformedURL("not an IPv6 address in brackets") from None
        return str(v6), v6
    if "%" in text:
        raise MalformedURL("a percent-encoded host")
    host = text.lower() if text.isascii() else _idna(text)
    if host.endswith("."):
        host = host[:-1]  # the root label: "example.com." is example.com
    labels = host.split(".")
    if _NUMBER.fullmatch(labels[-1]):
        v4 = _ipv4(labels)
        return str(v4), v4
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise MalformedURL("not a host name")
    return host, None


def _idna(text: str) -> str:
    """A host with non-ASCII characters in its ASCII form (UTS 46 maps full-width forms too)."""
    try:
        return idna.encode(text, uts46=True).decode("ascii").lower()
    except (idna.IDNAError, UnicodeError):
        raise MalformedURL("not a valid international host name") from None


def _ipv4(labels: list[str]) -> ipaddress.IPv4Address:
    """A host ending in a number is an IPv4 address, as ``inet_aton`` and browsers read it:
    one to four parts, each decimal, octal (leading 0) or hex (0x), the last filling the rest."""
    if len(labels) > 4 or any(len(label) > 12 for label in labels):
        raise MalformedURL("not an IPv4 address")
    numbers = [_ipv4_number(label) for label in labels]
    *front, last = numbers
    if any(n > 255 for n in front) or last >= 256 ** (5 - len(numbers)):
        raise MalformedURL("an IPv4 address out of range")
    value = last
    for position, number in enumerate(front):
        value += number << (8 * (3 - position))
    return ipaddress.IPv4Address(value)


def _ipv4_number(label: str) -> int:
    """One part of an IPv4 address in decimal, octal or hex; refused when it is none of them."""
    if label[:2].lower() == "0x":
        digits, base = label[2:], 16  # "0x" alone: browsers read 0, inet_aton refuses; so do we
    elif len(label) > 1 and label.startswith("0"):
        digits, base = label[1:], 8
    else:
        digits, base = label, 10
    if not re.fullmatch("[0-9a-fA-F]+" if base == 16 else "[0-9]+", digits):
        raise MalformedURL("not an IPv4 address")
    try:
        return int(digits, base)
    except ValueError:  # 8 or 9 in an octal part
        raise MalformedURL("not an IPv4 address") from None
