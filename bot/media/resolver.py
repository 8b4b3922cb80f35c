"""Name lookups for fetches, on a small pool of their own, each bounded in time.

``getaddrinfo`` blocks a thread until the name's DNS servers answer, and an attacker chooses the
name (and can run servers that never answer). Done on the event loop's default executor, a few
such names would hold every thread that the rest of the process uses. Here they hold at most
``workers`` threads of a pool no one else uses; at most ``waiting`` more lookups queue for them;
past that a lookup is refused at once, and each gives up after ``timeout`` seconds.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from .refusal import Refused

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) → the addresses it has, as text; ``socket.getaddrinfo`` unless a test says else.
Lookup = Callable[[str, int], Sequence[str]]


def system_lookup(host: str, port: int) -> list[str]:
    """The addresses ``host`` has for a TCP connection, by the system's resolver."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos]


class Resolver:
    """Looks names up on its own threads: ``workers`` at once, ``waiting`` queued, each bounded."""

    def __init__(
        self,
        *,
        workers: int = 4,
        waiting: int = 32,
        timeout: float = 5.0,
        lookup: Lookup = system_lookup,
    ) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="media-dns")
        self._limit = workers + waiting
        self._timeout = timeout
        self._lookup = lookup
        # Counted under a thread lock, not an asyncio one: a lookup that timed out still holds its
        # thread until the system resolver returns, and it ends on that thread, maybe after the
        # event loop that started it has gone.
        self._lock = threading.Lock()
        self._pending = 0

    @property
    def pending(self) -> int:
        """Lookups queued or running now (including ones whose caller has given up)."""
        return self._pending

    async def addresses(self, host: str, port: int) -> list[Address]:
        """Every address ``host`` has; ``Refused`` (``timeout`` or ``unreachable``) otherwise."""
        with self._lock:
            if self._pending >= self._limit:
                raise Refused("timeout", "too many name lookups at once")
            self._pending += 1
        try:
            future = self._pool.submit(self._lookup, host, port)
        except RuntimeError:  # the pool was shut down
            self._done(None)
            raise Refused("unreachable", host) from None
        future.add_done_callback(self._done)
        try:
            # A lookup still queued when the time is up is cancelled and never runs.
            found = await asyncio.wait_for(asyncio.wrap_future(future), self._timeout)
        except TimeoutError:
            raise Refused("timeout", f"looking up {host}") from None
        except (OSError, UnicodeError):
            raise Refused("unreachable", host) from None
        try:
            addresses = [ipaddress.ip_address(text) for text in found]
        except ValueError:
            raise Refused("unreachable", f"{host}: an unreadable address") from None
        if not addresses:
            raise Refused("unreachable", host)
        return addresses

    def close(self) -> None:
        """Stop taking lookups; queued ones are cancelled, running ones end on their own."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _done(self, _future: Future[Sequence[str]] | None) -> None:
        with self._lock:
            self._pending -= 1


_SHARED: list[Resolver] = []
_SHARED_LOCK = threading.Lock()


def shared_resolver() -> Resolver:
    """The process's one resolver for fetches (its threads start only when first used)."""
    with _SHARED_LOCK:
        if not _SHARED:
            _SHARED.append(Resolver())
        return _SHARED[0]
