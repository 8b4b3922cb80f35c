"""Where a fetch of a URL given to us may go: global unicast, and what the operator allows.

A URL a resident, Twilio or an Open311 client gave us must never make the server call itself, its
network or a cloud metadata service (server-side request forgery). So the URL is read once
(``urls``: every written form of a host), its host resolved once on a bounded pool
(``resolver``), and every address it has must be global unicast (``ranges``) or listed by the
operator; the connection then goes to the address that was checked (no second lookup that a
rebinding name could answer differently).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from .ranges import Address, public, special
from .refusal import MalformedURL, Refused
from .resolver import Resolver, shared_resolver
from .urls import Target, normal_host

__all__ = ["PUBLIC_PORTS", "Allowance", "MalformedURL", "Refused", "checked_address", "public"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Ports a public media server answers on; an allowed (operator-listed) host may use any.
PUBLIC_PORTS = frozenset({80, 443})


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
                hosts.add(_host_as_read(item))
        return cls(frozenset(hosts), tuple(networks))

    def admits(self, host: str, address: Address) -> bool:
        """Whether the operator listed this host name or a network holding this address."""
        return host in self.hosts or any(address in network for network in self.networks)


async def checked_address(
    target: Target, allowance: Allowance, resolver: Resolver | None = None
) -> Address:
    """The address to connect to for ``target``, refusing when any address it has is off limits."""
    if target.literal is not None:
        addresses = [target.literal]
    else:
        found = await (resolver or shared_resolver()).addresses(target.host, target.port)
        addresses = list(found)
    # Every address must pass: a name with one public and one private address could be steered.
    for address in addresses:
        allowed = allowance.admits(target.host, address)
        if not allowed and not public(address):
            raise Refused("address", f"{target.host}: {special(address)}")
        if not allowed and target.port not in PUBLIC_PORTS:
            raise Refused("address", f"port {target.port}")
    return addresses[0]


def _host_as_read(item: str) -> str:
    """A listed host as ``urls`` reads a URL's host (IDNA, no trailing dot), so the two match."""
    try:
        return normal_host(item)[0]
    except MalformedURL:
        return item.rstrip(".")
