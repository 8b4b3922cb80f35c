"""A case's photos as they arrive: kept with the case in the order they were sent."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import defer
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db import queries
from db.models import CasePhoto

from .context import ServiceContext

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


@dataclass(frozen=True, slots=True)
class Attachment:
    """A case photo as a message carries it: by the channel's file id where one is known (no
    upload), else its bytes (uploaded; the id the channel gives back is kept by ``remember``)."""

    case_number: int
    position: int
    file_id: str | None
    content: bytes | None
    content_type: str


async def attachments(
    session: AsyncSession, case_number: int, positions: Sequence[int]
) -> tuple[Attachment, ...]:
    """The photos at ``positions`` of a case, in order; bytes read only where no id is known."""
    wanted = set(positions)
    kept = [
        p
        for p in await queries.case_photos(session=session, number=case_number)
        if p.position in wanted
    ]
    found: list[Attachment] = []
    for photo in kept:
        content = None
        if photo.file_id is None:
            full = await queries.case_photo(
                session=session, number=case_number, position=photo.position
            )
            content = full.content if full is not None else None
        if photo.file_id is None and content is None:
            continue  # nothing to send it by
        found.append(
            Attachment(case_number, photo.position, photo.file_id, content, photo.content_type)
        )
    return tuple(found)


async def remember(ctx: ServiceContext, case_number: int, position: int, file_id: str) -> None:
    """Keep the id a channel gave an uploaded photo: the next holder gets it by id, no upload."""
    async with ctx.db.transaction() as session:
        query = select(CasePhoto).where(
            CasePhoto.case_number == case_number,
            CasePhoto.position == position,
            col(CasePhoto.file_id).is_(None),
        )
        photo = (await session.exec(query.options(defer(CasePhoto.content)))).first()  # type: ignore[arg-type]
        if photo is not None:
            photo.file_id = file_id[:256]
            session.add(photo)
