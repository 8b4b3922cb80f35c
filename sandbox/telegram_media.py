"""The photo side of the loopback Telegram: file ids the bot may use, uploads, albums, captions.

Telegram lets a bot send a photo by a ``file_id`` it has seen (a user's photo, or one it uploaded
before) or by uploading the bytes (multipart); it answers with the photo's sizes, each with its
own file id. An album (``sendMediaGroup``) holds 2-10 items, each ``attach://<field>`` (an upload
in that multipart field) or a file id. A caption holds 1,024 characters; a photo's message has
a caption and no text, so ``editMessageText`` on it is refused and ``editMessageCaption`` edits it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

CAPTION_LIMIT = 1024
ALBUM_SIZES = range(2, 11)
WRONG_FILE = "Bad Request: wrong file identifier/HTTP URL specified"
CAPTION_TOO_LONG = "Bad Request: message caption is too long"
NO_TEXT = "Bad Request: there is no text in the message to edit"
NO_CAPTION = "Bad Request: there is no caption in the message to edit"
BAD_ALBUM = "Bad Request: media group must contain 2-10 items"

Refusal = tuple[int, str]


@dataclass
class Files:
    """The photos the bot may send by id: what users sent and what it uploaded. An upload's
    bytes go into the emulator's ``files`` (what ``getFile`` and the file server serve)."""

    known: set[str] = field(default_factory=set)
    uploads: int = 0  # how many photos were uploaded (not sent by id)
    _next: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def seen(self, file_id: str) -> None:
        """A user sent this photo: the bot may send it on by id."""
        self.known.add(file_id)

    def forget(self, file_id: str) -> None:
        """Telegram no longer knows this id (as when a file id came from another bot)."""
        self.known.discard(file_id)

    def take(self, value: Any, params: dict[str, Any], files: dict[str, bytes]) -> str | Refusal:
        """The file id of a photo parameter: an upload (bytes, or ``attach://`` a multipart
        field) gets a new one; an id must be one the bot has seen."""
        if isinstance(value, str) and value.startswith("attach://"):
            value = params.get(value.removeprefix("attach://"))
        if isinstance(value, bytes):
            file_id = f"uploaded-photo-{next(self._next)}"
            self.known.add(file_id)
            files[file_id] = value
            self.uploads += 1
            return file_id
        if isinstance(value, str) and (value in self.known or value in files):
            return value
        return 400, WRONG_FILE


def photo_sizes(file_id: str) -> list[dict[str, Any]]:
    """A photo as Telegram describes it in a message: its sizes, the largest last."""
    return [
        {"file_id": f"{file_id}", "file_unique_id": f"u-{file_id}", "width": w, "height": h}
        for w, h in ((90, 68), (640, 480))
    ]


def caption_refusal(params: dict[str, Any]) -> Refusal | None:
    """Telegram's answer to a caption that is too long, else None."""
    if len(str(params.get("caption") or "")) > CAPTION_LIMIT:
        return 400, CAPTION_TOO_LONG
    return None


def album_items(
    params: dict[str, Any], sendable: Files, files: dict[str, bytes]
) -> list[str] | Refusal:
    """The file ids of an album's photos, in order, or Telegram's refusal."""
    media = params.get("media")
    if not isinstance(media, list) or len(media) not in ALBUM_SIZES:
        return 400, BAD_ALBUM
    found: list[str] = []
    for item in media:
        if not isinstance(item, dict) or item.get("type") != "photo":
            return 400, "Bad Request: unsupported media type in the album"
        taken = sendable.take(item.get("media"), params, files)
        if isinstance(taken, tuple):
            return taken
        found.append(taken)
    return found
