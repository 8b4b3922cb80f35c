"""Where a fetch of a URL given to us may go: public addresses, and what the operator allows.

A URL a resident, Twilio or an Open311 client gave us must never make the server call itself, its
network or a cloud metadata service (server-side request forgery). So a host is resolved first and
every address it resolves to must be public; the connection then goes to the address that was
checked (no second lookup that a rebinding name could answer differently).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Ports a public media server answers on; an allowed (operator-listed) host may use any.
PUBLIC_PORTS = frozenset({80, 443})


class Refused(Exception):
    """A fetch that must not happen or did not give an image; ``reason`` is a short code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Allowance:
    """Hosts and networks the operator lets us fetch from although they are not public."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Allowance:
        """``"127.0.0.1, 10.0.0.0/8, media.internal"`` → an allowance; blank → none."""
        hosts: set[str] = set()
        networks: list[Network] = []
        for item in (part.strip().lower() for part in text.split(",")):
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                hosts.add(item.rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def admits(self, host: str, address: Address) -> bool:
        """Whether the operator listed this host name or a network holding this address."""
        return host in self.hosts or any(address in network for network in self.networks)


def public(address: Address) -> bool:
    """A globally routable unicast address (not loopback, private, link-local, reserved …)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


async def checked_address(host: str, port: int, allowance: Allowance) -> Address:
    """The address to connect to for ``host``, refusing when any address it has is off limits."""
    host = host.lower().rstrip(".")
    try:
        literal: Address | None = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except (OSError, UnicodeError) as error:
            raise Refused("unreachable", host) from error
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
        if not addresses:
            raise Refused("unreachable", host)
    # Every address must pass: a name with one public and one private address could be steered.
    for address in addresses:
        allowed = allowance.admits(host, address)
        if not allowed and not public(address):
            raise Refused("address", f"{host} is not a public address")
        if not allowed and port not in PUBLIC_PORTS:
            raise Refused("address", f"port {port}")
    return addresses[0]
