"""A case's photos as they arrive: kept with the case in the order they were sent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import CasePhoto

MAX_PHOTOS = 10  # Telegram's album holds 2-10; a case keeps no more than one album's worth
MAX_FETCHED = 5  # photos fetched from one message (an MMS): as many as the guided report takes


@dataclass(frozen=True, slots=True)
class NewPhoto:
    """A photo as it arrived: a channel's own reference (``file_id``) or the image's bytes."""

    source: str
    file_id: str | None = None
    content: bytes | None = None
    content_type: str = "image/jpeg"
    size: int | None = None


def keep(
    session: AsyncSession, case_number: int, photos: tuple[NewPhoto, ...], now: datetime
) -> None:
    """Add the photos to the case (at most ``MAX_PHOTOS``), in order; flushed with the case."""
    for position, photo in enumerate(photos[:MAX_PHOTOS]):
        size = photo.size if photo.size is not None else _size(photo)
        session.add(
            CasePhoto(
                case_number=case_number,
                position=position,
                source=photo.source,
                file_id=photo.file_id,
                content=photo.content,
                content_type=photo.content_type,
                size=size,
                created_at=now,
            )
        )


def _size(photo: NewPhoto) -> int | None:
    return len(photo.content) if photo.content is not None else None
