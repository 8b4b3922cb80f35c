"""The guard's table: every special range refused in every way its addresses can be written, and
the global unicast addresses let through, checked by the guard itself (no connection is made)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Sequence

import pytest

from bot.media.guard import Allowance, MalformedURL, Refused, checked_address
from bot.media.ranges import IPV4_SPECIAL, IPV6_SPECIAL, public, special
from bot.media.resolver import Resolver
from bot.media.urls import target_of


def _no_dns(host: str, port: int) -> Sequence[str]:
    raise AssertionError(f"an address written as a number was looked up: {host}")


NO_DNS = Resolver(workers=1, lookup=_no_dns)

# One or more addresses in each IPv4 special range (first, inside, last), and the range's name.
IPV4_REFUSED: list[tuple[str, str]] = [
    ("0.0.0.0", "this network"),
    ("0.1.2.3", "this network"),
    ("10.0.0.1", "private"),
    ("10.255.255.255", "private"),
    ("100.64.0.1", "shared address space (CGNAT)"),
    ("100.127.255.254", "shared address space (CGNAT)"),
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("169.254.169.254", "link-local (cloud metadata)"),
    ("172.16.0.1", "private"),
    ("172.31.255.255", "private"),
    ("192.0.0.9", "IETF protocol assignments"),
    ("192.0.0.170", "IETF protocol assignments"),
    ("192.0.2.1", "documentation (TEST-NET-1)"),
    ("192.31.196.1", "AS112 (anycast)"),
    ("192.52.193.1", "AMT (anycast)"),
    ("192.88.99.1", "6to4 relay anycast"),
    ("192.168.1.1", "private"),
    ("192.175.48.1", "AS112 direct delegation (anycast)"),
    ("198.18.0.1", "benchmarking"),
    ("198.19.255.255", "benchmarking"),
    ("198.51.100.1", "documentation (TEST-NET-2)"),
    ("203.0.113.1", "documentation (TEST-NET-3)"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.254", "reserved"),
    ("255.255.255.255", "limited broadcast"),
]

# One or more addresses in each IPv6 special range, and the range's name.
IPV6_REFUSED: list[tuple[str, str]] = [
    ("::", "unspecified"),
    ("::1", "loopback"),
    ("::ffff:a9fe:a9fe", "IPv4-mapped"),
    ("::ffff:808:808", "IPv4-mapped"),  # refused whatever it embeds: never unpacked
    ("::ffff:0:7f00:1", "IPv4-translated"),
    ("::a9fe:a9fe", "IPv4-compatible"),
    ("::7f00:1", "IPv4-compatible"),
    ("64:ff9b::a00:1", "NAT64"),
    ("64:ff9b::a9fe:a9fe", "NAT64"),
    ("64:ff9b::808:808", "NAT64"),
    ("64:ff9b:1::a00:1", "NAT64 local-use"),
    ("64:ff9b:1:ffff::1", "NAT64 local-use"),
    ("100::1", "discard-only"),
    ("100:0:0:1::1", "dummy prefix"),
    ("2001::1", "Teredo"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
    ("2001:2::1", "benchmarking"),
    ("2001:10::1", "IETF protocol assignments"),
    ("2001:1ff:ffff::1", "IETF protocol assignments"),
    ("2001:db8::1", "documentation"),
    ("2002:a9fe:a9fe::1", "6to4"),
    ("2002:7f00:1::", "6to4"),
    ("2620:4f:8000::1", "AS112 direct delegation (anycast)"),
    ("3fff::1", "documentation"),
    ("5f00::1", "SRv6 SIDs"),
    ("fc00::1", "unique local"),
    ("fd12:3456:789a::1", "unique local"),
    ("fe80::1", "link-local"),
    ("febf:ffff::1", "link-local"),
    ("fec0::1", "site-local"),
    ("feff::1", "site-local"),
    ("ff02::1", "multicast"),
    ("ff0e::1", "multicast"),
    ("1::1", "not global unicast"),  # reserved by IETF (::/8)
    ("4000::1", "not global unicast"),
    ("e000::1", "not global unicast"),
]

IPV4_GLOBAL = ["8.8.8.8", "1.1.1.1", "11.0.0.1", "100.128.0.1", "172.32.0.1", "198.20.0.1"]
IPV6_GLOBAL = ["2001:4860:4860::8888", "2606:4700:4700::1111", "2001:200::1", "2400:cb00::1"]
FULL_WIDTH = str.maketrans("0123456789.", "０１２３４５６７８９．")


def ipv4_forms(text: str) -> Iterator[tuple[str, str]]:
    """Every way a browser or ``inet_aton`` reads this IPv4 address as a URL's host."""
    address = ipaddress.IPv4Address(text)
    value, octets = int(address), [int(o) for o in text.split(".")]
    yield "dotted", text
    yield "integer", str(value)
    yield "hex", hex(value)
    yield "hex, dotted", ".".join(hex(o) for o in octets)
    yield "octal", ".".join(f"0{o:o}" for o in octets)
    yield "octal, one number", f"0{value:o}"
    yield "short, a.b", f"{octets[0]}.{value & 0xFFFFFF}"
    yield "short, a.b.c", f"{octets[0]}.{octets[1]}.{value & 0xFFFF}"
    yield "mixed", f"0x{octets[0]:x}.0{octets[1]:o}.{value & 0xFFFF}"
    yield "trailing dot", f"{text}."
    yield "full-width (IDNA)", text.translate(FULL_WIDTH)


def ipv4_in_ipv6_forms(text: str) -> Iterator[tuple[str, str]]:
    """The same address carried inside IPv6: every such range is refused outright."""
    value = int(ipaddress.IPv4Address(text))
    yield "IPv4-mapped", f"[::ffff:{text}]"
    yield "IPv4-mapped, hex", f"[::ffff:{value >> 16:x}:{value & 0xFFFF:x}]"
    yield "IPv4-compatible", f"[::{text}]"
    yield "IPv4-translated", f"[::ffff:0:{text}]"
    yield "NAT64", f"[64:ff9b::{text}]"
    yield "NAT64 local-use", f"[64:ff9b:1::{text}]"
    yield "6to4", f"[{ipaddress.IPv6Address((0x2002 << 112) | (value << 80))}]"
    teredo = (0x20010000 << 96) | (~value & 0xFFFFFFFF)  # the client's address, inverted
    yield "Teredo", f"[{ipaddress.IPv6Address(teredo)}]"


def ipv6_forms(text: str) -> Iterator[tuple[str, str]]:
    """The ways an IPv6 address is written in a URL: short, long, upper case."""
    address = ipaddress.IPv6Address(text)
    yield "compressed", f"[{address.compressed}]"
    yield "exploded", f"[{address.exploded}]"
    yield "upper case", f"[{address.exploded.upper()}]"
    if address.ipv4_mapped or (int(address) >> 32) in (0, 0xFFFF, 0xFFFF0000, 0x64FF9B << 64):
        tail = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        yield "dotted tail", f"[{address.exploded.rsplit(':', 2)[0]}:{tail}]"


def _cases() -> Iterator[object]:
    for text, name in IPV4_REFUSED:
        for form, host in ipv4_forms(text):
            yield pytest.param(host, name, id=f"{text} {form}")
        for form, host in ipv4_in_ipv6_forms(text):
            embedding = "unspecified" if host == "[::0.0.0.0]" else form.split(",")[0]
            yield pytest.param(host, embedding, id=f"{text} {form}")
    for text, name in IPV6_REFUSED:
        for form, host in ipv6_forms(text):
            yield pytest.param(host, name, id=f"{text} {form}")


@pytest.mark.parametrize(("host", "name"), list(_cases()))
async def test_every_special_range_is_refused_in_every_form(host: str, name: str) -> None:
    target = target_of(f"http://{host}/a.png")
    assert target.literal is not None  # read as an address, never sent to DNS
    with pytest.raises(Refused) as refused:
        await checked_address(target, Allowance(), NO_DNS)
    assert refused.value.reason == "address"
    assert str(refused.value).endswith(f": {name}")  # the table's own row, not a fallback


def _passing() -> Iterator[object]:
    for text in IPV4_GLOBAL:
        for form, host in ipv4_forms(text):
            yield pytest.param(host, text, id=f"{text} {form}")
    for text in IPV6_GLOBAL:
        for form, host in ipv6_forms(text):
            yield pytest.param(host, text, id=f"{text} {form}")


@pytest.mark.parametrize(("host", "address"), list(_passing()))
async def test_global_unicast_passes_in_every_form(host: str, address: str) -> None:
    for port in ("", ":443"):
        target = target_of(f"https://{host}{port}/a.png")
        checked = await checked_address(target, Allowance(), NO_DNS)
        assert checked == ipaddress.ip_address(address)  # the address a connection goes to


@pytest.mark.parametrize("text", IPV4_GLOBAL)
async def test_a_public_ipv4_address_inside_ipv6_is_refused_all_the_same(text: str) -> None:
    for _, host in ipv4_in_ipv6_forms(text):
        with pytest.raises(Refused, match=r"^address: "):
            await checked_address(target_of(f"http://{host}/"), Allowance(), NO_DNS)


@pytest.mark.parametrize(
    "host", ["[fe80::1%25eth0]", "[fe80::1%eth0]", "[2001:4860:4860::8888%251]", "[::1%25lo]"]
)
async def test_a_zone_id_is_refused_as_malformed(host: str) -> None:
    with pytest.raises(MalformedURL):
        target_of(f"http://{host}/a.png")


def test_the_table_covers_what_the_issue_names() -> None:
    """The ranges the issue lists are rows of the table (not left to the standard library)."""
    v6 = {str(net) for net, _ in IPV6_SPECIAL}
    assert {
        "::/96",
        "::ffff:0:0/96",
        "64:ff9b::/96",
        "64:ff9b:1::/48",
        "2002::/16",
        "2001::/32",
        "fec0::/10",
        "fc00::/7",
        "100::/64",
    } <= v6
    v4 = {str(net) for net, _ in IPV4_SPECIAL}
    assert {"100.64.0.0/10", "198.18.0.0/15", "0.0.0.0/8", "255.255.255.255/32"} <= v4


def test_what_the_standard_library_calls_global_the_table_refuses() -> None:
    """The holes of ``is_global`` the issue found: the standard library lets them through."""
    for text in [
        "::a9fe:a9fe",
        "::ffff:0:7f00:1",
        "64:ff9b::a00:1",
        "2002:a9fe:a9fe::1",
        "fec0::1",
    ]:
        address = ipaddress.ip_address(text)
        assert address.is_global or not address.is_private  # what Python alone would allow
        assert not public(address), text
        assert special(address) is not None
