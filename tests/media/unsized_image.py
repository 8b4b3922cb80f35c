"""A huge image streamed with no ``Content-Length``, for the image hosts the fetch tests stand up:
its size is known only as it arrives."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.responses import StreamingResponse

BLOCK = 65_536


def unsized_jpeg(head: bytes, blocks: int) -> StreamingResponse:
    """A JPEG's ``head`` and then ``blocks`` blocks of 64 KiB of zeros, no ``Content-Length``."""

    async def chunks() -> AsyncIterator[bytes]:
        yield head
        block = bytes(BLOCK)
        for _ in range(blocks):
            yield block

    return StreamingResponse(chunks(), media_type="image/jpeg")
