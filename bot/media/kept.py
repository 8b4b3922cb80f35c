"""A case's photos as they are served (the console's pages, an Open311 update's ``media_url``),
behind the reader's authorization: kept bytes from the row, Telegram photos fetched by file id
from the Bot API (``getFile``, then the file server), both held in a small bounded in-process
cache. The type served is an image type the bytes bear out, else a download: never something a
browser would run as a page."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import httpx

from bot.config import Settings
from bot.media.images import IMAGE_TYPES, image_type

MAX_PHOTO_BYTES = 10 * 1024 * 1024  # Telegram's own limit for a photo
CACHE_ENTRIES = 64
CACHE_BYTES = 32 * 1024 * 1024
TIMEOUT = 10.0


@dataclass
class PhotoCache:
    """Least recently used photos, bounded by count and by bytes."""

    entries: int = CACHE_ENTRIES
    total: int = CACHE_BYTES
    _held: OrderedDict[str, tuple[bytes, str]] = field(default_factory=OrderedDict)
    _bytes: int = 0

    def get(self, key: str) -> tuple[bytes, str] | None:
        """The photo kept under ``key`` (now the most recent), or None."""
        found = self._held.get(key)
        if found is not None:
            self._held.move_to_end(key)
        return found

    def put(self, key: str, content: bytes, content_type: str) -> None:
        """Keep a photo, forgetting the least recent ones beyond the bounds."""
        if len(content) > self.total:
            return
        old = self._held.pop(key, None)
        if old is not None:
            self._bytes -= len(old[0])
        self._held[key] = (content, content_type)
        self._bytes += len(content)
        while len(self._held) > self.entries or self._bytes > self.total:
            _, (dropped, _) = self._held.popitem(last=False)
            self._bytes -= len(dropped)


def served_type(content: bytes, declared: str) -> str | None:
    """The image type to serve ``content`` as: the row's, when it is an image type and the bytes
    are an image; None when the bytes are no image we know (served as a download)."""
    actual = image_type(content)
    if actual is None:
        return None
    return declared if declared in IMAGE_TYPES and declared == actual else actual


async def photo_bytes(
    content: bytes | None, file_id: str | None, files: TelegramFiles | None, cache: PhotoCache
) -> bytes | None:
    """A photo's bytes: kept with the case, else fetched from Telegram by its file id (cached);
    None when neither can be had."""
    if content is not None:
        return content
    if file_id is None or files is None:
        return None
    found = cache.get(file_id)
    if found is not None:
        return found[0]
    fetched = await files.fetch(file_id)
    if fetched is not None:
        cache.put(file_id, fetched, image_type(fetched) or "application/octet-stream")
    return fetched


@dataclass
class TelegramFiles:
    """Telegram photos by file id, through the configured Bot API root."""

    root: str
    token: str

    @classmethod
    def of(cls, settings: Settings) -> TelegramFiles | None:
        """The file source for these settings; None when Telegram is off."""
        if settings.telegram_bot_token is None:
            return None
        return cls(
            settings.telegram_api_url.rstrip("/"), settings.telegram_bot_token.get_secret_value()
        )

    async def fetch(self, file_id: str) -> bytes | None:
        """The file's bytes (at most ``MAX_PHOTO_BYTES``), or None when Telegram will not give
        them."""
        async with httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False) as client:
            try:
                answer = await client.post(
                    f"{self.root}/bot{self.token}/getFile", data={"file_id": file_id}
                )
                found = answer.json() if answer.status_code == 200 else {}
                path = (found.get("result") or {}).get("file_path") if found.get("ok") else None
                if not isinstance(path, str) or ".." in path or path.startswith("/"):
                    return None
                return await _bounded(client, f"{self.root}/file/bot{self.token}/{path}")
            except (httpx.HTTPError, ValueError):
                return None


async def _bounded(client: httpx.AsyncClient, url: str) -> bytes | None:
    """GET ``url``'s body, or None when it fails or grows past ``MAX_PHOTO_BYTES``."""
    async with client.stream("GET", url) as answer:
        if answer.status_code != 200:
            return None
        body = bytearray()
        async for chunk in answer.aiter_bytes():
            body += chunk
            if len(body) > MAX_PHOTO_BYTES:
                return None
    return bytes(body)
