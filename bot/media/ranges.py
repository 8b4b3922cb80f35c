"""The addresses a fetch may reach: global unicast only, by an explicit table of special ranges.

``ipaddress.is_global`` is not enough: it calls IPv4-compatible (``::a9fe:a9fe``), IPv4-translated
(``::ffff:0:7f00:1``), NAT64 (``64:ff9b::a00:1``), 6to4 and site-local addresses global, and through
each of them an IPv4 address of the LAN or the metadata service can be reached on a host that
routes them. So the ranges that embed an IPv4 address are refused outright (never unpacked: the
embedded address may be translated by a gateway we cannot see), IPv6 must lie in 2000::/3, and the
standard library's opinion is asked as well, so a range it learns of later is refused too.
"""

from __future__ import annotations

import ipaddress

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# IANA's IPv4 special-purpose registry and more: anything not an ordinary public host.
IPV4_SPECIAL: tuple[tuple[ipaddress.IPv4Network, str], ...] = tuple(
    (ipaddress.IPv4Network(net), name)
    for net, name in (
        ("0.0.0.0/8", "this network"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "shared address space (CGNAT)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local (cloud metadata)"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "IETF protocol assignments"),
        ("192.0.2.0/24", "documentation (TEST-NET-1)"),
        ("192.31.196.0/24", "AS112 (anycast)"),
        ("192.52.193.0/24", "AMT (anycast)"),
        ("192.88.99.0/24", "6to4 relay anycast"),
        ("192.168.0.0/16", "private"),
        ("192.175.48.0/24", "AS112 direct delegation (anycast)"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation (TEST-NET-2)"),
        ("203.0.113.0/24", "documentation (TEST-NET-3)"),
        ("224.0.0.0/4", "multicast"),
        ("255.255.255.255/32", "limited broadcast"),  # before 240/4, so its own name is told
        ("240.0.0.0/4", "reserved"),
    )
)

# IANA's IPv6 special-purpose registry, the IPv4-embedding ranges first; the first match names it.
IPV6_SPECIAL: tuple[tuple[ipaddress.IPv6Network, str], ...] = tuple(
    (ipaddress.IPv6Network(net), name)
    for net, name in (
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("::ffff:0:0/96", "IPv4-mapped"),
        ("::ffff:0:0:0/96", "IPv4-translated"),
        ("::/96", "IPv4-compatible"),
        ("64:ff9b::/96", "NAT64"),
        ("64:ff9b:1::/48", "NAT64 local-use"),
        ("100::/64", "discard-only"),
        ("100:0:0:1::/64", "dummy prefix"),
        ("2001::/32", "Teredo"),
        ("2001:2::/48", "benchmarking"),
        ("2001::/23", "IETF protocol assignments"),
        ("2001:db8::/32", "documentation"),
        ("2002::/16", "6to4"),
        ("2620:4f:8000::/48", "AS112 direct delegation (anycast)"),
        ("3fff::/20", "documentation"),
        ("5f00::/16", "SRv6 SIDs"),
        ("fc00::/7", "unique local"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local"),
        ("ff00::/8", "multicast"),
    )
)

# The only IPv6 space handed out for public hosts; the rest is reserved or special.
IPV6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")


def special(address: Address) -> str | None:
    """The name of the special range holding ``address``; None for a global unicast address."""
    if isinstance(address, ipaddress.IPv4Address):
        for net4, name in IPV4_SPECIAL:
            if address in net4:
                return name
    else:
        for net6, name in IPV6_SPECIAL:
            if address in net6:
                return name
        if address not in IPV6_GLOBAL_UNICAST:
            return "not global unicast"
    # Belt and braces: what the standard library knows not to be global is refused as well.
    if not address.is_global or address.is_multicast:
        return "not global"
    return None


def public(address: Address) -> bool:
    """Whether ``address`` is global unicast: in no special range, IPv4 or IPv6."""
    return special(address) is None
