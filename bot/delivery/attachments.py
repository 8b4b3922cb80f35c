"""A case's photos as the outbox carries them: by the channel's file id where one is known, else
their bytes; and the id a channel gives an uploaded photo, kept so the next send needs no upload."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Connection, bindparam
from sqlalchemy import select as core_select
from sqlalchemy.orm import defer
from sqlmodel import col, select

from bot.services.unit.context import ServiceContext
from db.models import CasePhoto


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
