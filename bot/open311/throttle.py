"""Open311 reads held to a sliding minute per API key, and per client address without a key,
counted in this process (see ``SlidingMinutes`` for why), in bounded memory."""

from __future__ import annotations

import ipaddress
import math
from array import array

from .errors import Problem

WINDOW = 60  # seconds: the sliding minute, counted in whole seconds
MAX_CLIENTS = 10_000  # per table: under 500 bytes each (measured), so 5 MB at most


class _Minute:
    """One client's last minute: a request count for each of its 60 seconds (a ring)."""

    __slots__ = ("counts", "last")

    def __init__(self, second: int) -> None:
        self.counts = array("I", [0]) * WINDOW
        self.last = second

    def move_to(self, second: int) -> None:
        """Forget the seconds that left the window by ``second``."""
        if second - self.last >= WINDOW:
            self.counts = array("I", [0]) * WINDOW
        else:
            for past in range(self.last + 1, second + 1):
                self.counts[past % WINDOW] = 0
        self.last = max(self.last, second)

    def oldest(self) -> int:
        """The earliest second of the window with a request in it."""
        window = range(self.last - WINDOW + 1, self.last + 1)
        return next(s for s in window if self.counts[s % WINDOW])


class SlidingMinutes:
    """At most ``limit`` requests per client in any minute.

    Counted in memory, per process, on purpose. A database counter would turn every GET into a
    write (an INSERT and a DELETE under a row lock, a commit flushed to disk): a flood of reads
    — what the limit is for — would become a flood of writes queued before every report and
    webhook on the single writer (SQLite) or the WAL (PostgreSQL), refused reads included. What
    the limit protects is each process's event loop and connection pool, and that is what a
    count in the process measures; a refused keyless read costs no database work at all. The
    price: behind a balancer over N processes a client may read up to N times the limit; set
    ``OPEN311_READS_PER_MINUTE`` per process accordingly. (POSTs are counted in the database:
    they write anyway, and their limit is a cap on cases and SMS that must hold across them.)

    Memory is bounded: each client costs a 60-slot array, and past ``capacity`` clients the one
    seen least recently is forgotten (it starts afresh if it comes back)."""

    def __init__(self, capacity: int = MAX_CLIENTS) -> None:
        self._capacity = capacity
        self._clients: dict[str, _Minute] = {}  # least recently seen first

    def __len__(self) -> int:
        return len(self._clients)

    def take(self, client: str, now: float, limit: int) -> float | None:
        """Count one request of ``client`` at ``now`` (seconds): None when it is within ``limit``
        in the last minute, else the seconds until its oldest request leaves the window (the
        refused one is not counted)."""
        second = math.floor(now)
        minute = self._clients.pop(client, None)
        if minute is None:
            minute = _Minute(second)
            if len(self._clients) >= self._capacity:
                del self._clients[next(iter(self._clients))]
        self._clients[client] = minute  # now the most recently seen
        minute.move_to(second)
        if sum(minute.counts) >= limit:
            return max(minute.oldest() + WINDOW - now, 0.001)
        minute.counts[minute.last % WINDOW] += 1
        return None


class ReadLimits:
    """Every Open311 GET counted: against its key's minute, or, without a valid key, against
    its client address's; ``per_minute`` in each."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        # Two tables, so that a flood of addresses can never push a key's count out.
        self._keys, self._addresses = SlidingMinutes(), SlidingMinutes()

    def count(self, key_id: int | None, host: str | None, now: float) -> None:
        """Count one GET at ``now`` (seconds); past the limit, 429 with ``Retry-After``."""
        if key_id is not None:
            wait = self._keys.take(str(key_id), now, self.per_minute)
            text = "open311.err.rate_limited"
        else:
            wait = self._addresses.take(address_of(host), now, self.per_minute)
            text = "open311.err.address_limited"
        if wait is not None:
            seconds = str(math.ceil(wait))
            params = {"limit": self.per_minute, "seconds": seconds}
            raise Problem(429, text, params, {"Retry-After": seconds})


def address_of(host: str | None) -> str:
    """The client an address counts as: an IPv4 address whole (also written inside IPv6), an
    IPv6 address by its /64 — one subscriber's network, in which one host may take any address."""
    try:
        ip = ipaddress.ip_address((host or "").split("%")[0])
    except ValueError:
        return host or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)
