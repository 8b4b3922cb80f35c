"""A case's photos as they arrive: kept with the case in the order they were sent."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Connection, bindparam
from sqlalchemy import select as core_select
from sqlalchemy.orm import defer
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

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


def attachments_of(
    conn: Connection, wanted: Sequence[tuple[int, Sequence[int]]]
) -> list[tuple[Attachment, ...]]:
    """For each (case number, positions): the case's photos at those positions, in order; bytes
    read only where no id is known. Two queries whatever their number (a Core unit's, on the
    writer)."""
    if not wanted:
        return []
    cases = sorted({number for number, _ in wanted})
    kept: dict[int, list[tuple[int, int, str | None, str]]] = {}
    for photo_id, number, position, file_id, content_type in conn.execute(
        _PHOTOS_OF, {"cases": cases}
    ):
        row = (cast(int, photo_id), position, file_id, content_type)  # a stored row has its id
        kept.setdefault(number, []).append(row)
    # Bytes only of the photos some message carries and no file id names.
    unnamed = {
        photo_id
        for number, positions in wanted
        for photo_id, position, file_id, _ in kept.get(number, ())
        if file_id is None and position in positions
    }
    content: dict[int, bytes | None] = {}
    if unnamed:
        found_bytes = conn.execute(_CONTENT_OF, {"ids": sorted(unnamed)})
        content = {cast(int, i): data for i, data in found_bytes}
    found: list[tuple[Attachment, ...]] = []
    for number, positions in wanted:
        chosen = set(positions)
        carried = []
        for photo_id, position, file_id, content_type in kept.get(number, ()):
            data = content.get(photo_id) if file_id is None else None
            if position not in chosen or (file_id is None and data is None):
                continue  # not carried, or nothing to send it by
            carried.append(Attachment(number, position, file_id, data, content_type))
        found.append(tuple(carried))
    return found


_PHOTOS_OF = (
    core_select(
        col(CasePhoto.id),
        col(CasePhoto.case_number),
        col(CasePhoto.position),
        col(CasePhoto.file_id),
        col(CasePhoto.content_type),
    )
    .where(col(CasePhoto.case_number).in_(bindparam("cases", expanding=True)))
    .order_by(col(CasePhoto.case_number), col(CasePhoto.position))
)
_CONTENT_OF = core_select(col(CasePhoto.id), col(CasePhoto.content)).where(
    col(CasePhoto.id).in_(bindparam("ids", expanding=True))
)


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
