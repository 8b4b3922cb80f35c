"""A case's photos as they arrive: kept with the case in the order they were sent."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import CaseEvent, CasePhoto

MAX_PHOTOS = 10  # Telegram's album holds 2-10; a case keeps no more than one album's worth
MAX_FETCHED = 5  # photos fetched from one message (an MMS): as many as the guided report takes
# The fix's photos (a manager's at "已办好") have room of their own beyond a full report's.
MAX_FIX = 5
MAX_POSITION = MAX_PHOTOS + MAX_FIX  # no case holds a photo at or past this position


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
        session.add(_row(case_number, position, photo, now))


async def append(
    session: AsyncSession,
    case_number: int,
    photos: Sequence[NewPhoto],
    now: datetime,
    *,
    limit: int = MAX_PHOTOS,
) -> list[int]:
    """Add photos after the case's last one while it holds fewer than ``limit``; their positions
    (fewer than given, or none, when it is full)."""
    count = await session.scalar(
        select(func.count()).select_from(CasePhoto).where(col(CasePhoto.case_number) == case_number)
    )
    start = int(count or 0)
    taken = list(photos[: max(limit - start, 0)])
    for offset, photo in enumerate(taken):
        session.add(_row(case_number, start + offset, photo, now))
    return [start + offset for offset in range(len(taken))]


def event_photos(event: CaseEvent) -> tuple[int, ...]:
    """The positions of the photos an event brought (``photos``, or a follower's ``photo``)."""
    data = event.data or {}
    many, one = data.get("photos"), data.get("photo")
    if isinstance(many, list):
        return tuple(p for p in many if isinstance(p, int))
    return (one,) if isinstance(one, int) else ()


async def keep_fix(
    session: AsyncSession, case_number: int, photos: Sequence[NewPhoto], now: datetime
) -> dict[str, object]:
    """Keep the photos of the fix a resolution brought; their positions for its event."""
    kept = await append(session, case_number, photos[:MAX_FIX], now, limit=MAX_POSITION)
    return {"photos": kept} if kept else {}


def _row(case_number: int, position: int, photo: NewPhoto, now: datetime) -> CasePhoto:
    return CasePhoto(
        case_number=case_number,
        position=position,
        source=photo.source,
        file_id=photo.file_id,
        content=photo.content,
        content_type=photo.content_type,
        size=photo.size if photo.size is not None else _size(photo),
        created_at=now,
    )


def _size(photo: NewPhoto) -> int | None:
    return len(photo.content) if photo.content is not None else None
