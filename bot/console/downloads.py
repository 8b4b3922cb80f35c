"""What the console hands out as files: the CSV export of the list, and a case's photos —
each behind the same authorization as the page it belongs to."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from bot.media.kept import PhotoCache, TelegramFiles, served_type
from bot.services.staff import case as workplace_case
from bot.services.staff import listing

from .render import message
from .session import Sessions

_FORMULA = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet runs a cell that starts so
CSV_FIELDS = (
    "number",
    "status",
    "community",
    "community_name",
    "category",
    "category_name",
    "location",
    "description",
    "channel",
    "resident",
    "manager",
    "manager_name",
    "escalation_level",
    "reopen_count",
    "rating",
    "duplicate_of",
    "followers",
    "created_at",
    "ack_due_at",
    "resolve_due_at",
    "acknowledged_at",
    "resolved_at",
    "closed_at",
)


@dataclass
class Downloads:
    """The CSV export and the photos."""

    sessions: Sessions
    telegram: TelegramFiles | None = None
    cache: PhotoCache = field(default_factory=PhotoCache)

    async def export(self, request: Request) -> Response:
        """``/console/cases.csv``: the list's cases (every page) as UTF-8 CSV with a BOM."""
        reader = await self.sessions.needed(request)
        if isinstance(reader, Response):
            return reader
        filters = listing.Filters.parse(dict(request.query_params))
        batches = listing.export(
            self.sessions.ctx, reader.viewer, filters, language=reader.language
        )
        return StreamingResponse(
            _csv(batches),
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": 'attachment; filename="cases.csv"'},
        )

    async def photo(self, request: Request) -> Response:
        """``/console/cases/<n>/photos/<i>``: a photo of the case, for whoever sees the case."""
        reader = await self.sessions.needed(request)
        if isinstance(reader, Response):
            return reader
        number, position = request.path_params["number"], request.path_params["position"]
        try:
            row = await workplace_case.photo_of(
                self.sessions.ctx, reader.viewer, number=number, position=position
            )
        except workplace_case.NotVisible:
            return message("web.not_found", language=reader.language, status_code=404)
        key = f"{number}:{position}:{row.file_id or row.id}"
        found = self.cache.get(key)
        if found is None:
            content = row.content
            if content is None and row.file_id and self.telegram is not None:
                content = await self.telegram.fetch(row.file_id)
            if content is None:
                return message("web.photo_missing", language=reader.language, status_code=404)
            found = (content, row.content_type)
            self.cache.put(key, *found)
        content, declared = found
        kind = served_type(content, declared)
        headers = {"cache-control": "private, max-age=300"}
        if kind is None:  # not an image we know: a download, never shown as a page
            headers["content-disposition"] = f'attachment; filename="case-{number}-{position}"'
        return Response(content, media_type=kind or "application/octet-stream", headers=headers)


async def _csv(batches: AsyncIterator[list[dict[str, Any]]]) -> AsyncIterator[bytes]:
    """The CSV's bytes, a batch of cases at a time: the header after a BOM (a spreadsheet then
    reads the Chinese text as UTF-8), then each batch's rows as they are read."""
    out = io.StringIO()
    writer = csv.writer(out)
    out.write("\ufeff")
    writer.writerow(CSV_FIELDS)
    async for rows in batches:
        writer.writerows(map(_cells, rows))
        yield out.getvalue().encode("utf-8")
        out.seek(0)
        out.truncate()
    if out.tell():  # the header alone, when nothing matched
        yield out.getvalue().encode("utf-8")


def _cells(row: dict[str, Any]) -> list[object]:
    """A case's CSV line: empty for nothing; a text that a spreadsheet would run as a formula,
    quoted (in one expression: a call per cell was a third of the export's time)."""
    return [
        "" if v is None else "'" + v if v.__class__ is str and v[:1] in _FORMULA else v
        for v in map(row.get, CSV_FIELDS)
    ]
