"""The HTTP server's connections (uvicorn's h11 protocol, two changes): headers that do not
arrive in time end the connection (408), and a connection closed before its request's body was
read lingers a moment, so the answer reaches the client before the socket goes."""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

# After an answer given before the body was read: the socket is half-closed (the client sees
# the answer, then the end), what still comes is dropped unread for at most this long or this
# much, then the socket is closed. Closed at once, the kernel would answer the unread bytes with
# a reset that destroys the answer on its way to the client.
LINGER_SECONDS = 2.0
LINGER_BYTES = 4 * 1024 * 1024
_LATE = b"request headers not received in time\n"
_TIMED_OUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(_LATE), _LATE)
)


class _Lingering(asyncio.Transport):
    """The socket's transport, whose ``close`` lingers while the client may still be sending."""

    def __init__(self, transport: asyncio.Transport, protocol: BoundedH11) -> None:
        super().__init__()
        self.real, self._protocol = transport, protocol
        self.lingering = False
        self.dropped = 0
        self._timer: asyncio.TimerHandle | None = None

    def close(self) -> None:
        """Close; half-close and linger first when the request's body is still coming."""
        if self.lingering:
            return  # closed when the client is done, or when the lingering ends
        if self.real.is_closing() or not self._protocol.body_unread():
            self.real.close()
            return
        self.linger()

    def linger(self) -> None:
        """Half-close, drop what still comes for a moment, then close."""
        if self.lingering or self.real.is_closing():
            return
        self.lingering = True
        try:
            if self.real.can_write_eof():
                self.real.write_eof()  # the client reads the answer, then the end of it
        except OSError:  # the client is already gone (reset)
            self.end()
            return
        self.real.resume_reading()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(LINGER_SECONDS, self.end)

    def drop(self, size: int) -> None:
        """Bytes that came while lingering: not read into anything; past the allowance, end."""
        self.dropped += size
        if self.dropped > LINGER_BYTES:
            self.end()

    def end(self) -> None:
        """Close for good."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.real.close()

    def is_closing(self) -> bool:
        """True once closing or lingering: uvicorn then starts nothing more on it."""
        return self.lingering or self.real.is_closing()

    # The rest as the socket's own transport does it.
    def write(self, data: bytes | bytearray | memoryview[Any]) -> None:
        """Write."""
        self.real.write(data)

    def write_eof(self) -> None:
        """Half-close."""
        self.real.write_eof()

    def can_write_eof(self) -> bool:
        """Whether it can half-close."""
        return self.real.can_write_eof()

    def abort(self) -> None:
        """Close at once."""
        self.real.abort()

    def pause_reading(self) -> None:
        """Stop reading."""
        self.real.pause_reading()

    def resume_reading(self) -> None:
        """Read again."""
        self.real.resume_reading()

    def is_reading(self) -> bool:
        """Whether it reads."""
        return self.real.is_reading()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """The socket, the peer, TLS."""
        return self.real.get_extra_info(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        """Hand the connection to another protocol."""
        self.real.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        """The protocol it feeds."""
        return self.real.get_protocol()

    def get_write_buffer_size(self) -> int:
        """Bytes waiting to be written."""
        return self.real.get_write_buffer_size()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        """The write buffer's marks."""
        return self.real.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        """Set the write buffer's marks."""
        self.real.set_write_buffer_limits(high, low)


class BoundedH11(H11Protocol):
    """uvicorn's h11 protocol with a deadline on the request headers and a lingering close.

    ``header_seconds`` is set on a subclass made by ``bounded_h11``."""

    header_seconds = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Take the connection through a lingering transport; headers are due from now."""
        self._lingering = _Lingering(transport, self)
        self._header_timer: asyncio.TimerHandle | None = None
        super().connection_made(self._lingering)
        self._headers_due()

    def body_unread(self) -> bool:
        """Whether the client may still be sending: its request's body not all read, or a
        request so malformed that the rest of it was never looked at."""
        return self.conn.their_state in (h11.SEND_BODY, h11.ERROR)

    def data_received(self, data: bytes) -> None:
        """Bytes from the client; dropped unread while lingering."""
        if self._lingering.lingering:
            self._lingering.drop(len(data))
            return
        super().data_received(data)

    def eof_received(self) -> None:
        """The client is done sending: a lingering close ends here."""
        if self._lingering.lingering:
            self._lingering.end()
        super().eof_received()

    def on_response_complete(self) -> None:
        """An answer is out: the next request's headers are due from now."""
        super().on_response_complete()
        if not self._lingering.is_closing():
            self._headers_due()

    def connection_lost(self, exc: Exception | None) -> None:
        """Gone: no timer outlives it."""
        if self._header_timer is not None:
            self._header_timer.cancel()
        self._lingering.end()
        super().connection_lost(exc)

    def _headers_due(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
        self._header_timer = self.loop.call_later(self.header_seconds, self._headers_late)

    def _headers_late(self) -> None:
        """No request came whole in time: closed, with a 408 when part of one came (headers a
        byte at a time); an idle connection just ends."""
        self._header_timer = None
        idle = self.conn.their_state is h11.IDLE and self.conn.our_state is h11.IDLE
        if not idle or self._lingering.is_closing():
            return
        if self.conn.trailing_data[0]:
            self._lingering.real.write(_TIMED_OUT)
            self._lingering.linger()  # the headers' rest may still be coming
        else:
            self._lingering.real.close()


def bounded_h11(header_seconds: float) -> type[BoundedH11]:
    """The protocol class for uvicorn's ``http``, headers due within ``header_seconds``."""
    return type("BoundedH11", (BoundedH11,), {"header_seconds": header_seconds})
