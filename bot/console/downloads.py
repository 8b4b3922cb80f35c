"""What the console hands out as files: the CSV export of the list, and a case's photos —
each behind the same authorization as the page it belongs to."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from bot.media.kept import PhotoCache, TelegramFiles, served_type
from bot.services.staff import case as workplace_case
from bot.services.staff import listing
from bot.services.staff.csv_rows import CSV_FIELDS as CSV_FIELDS  # the tests read the columns here
from bot.services.staff.csv_rows import HEADER, CsvLines
from bot.services.unit.context import ServiceContext

from .render import message
from .session import Sessions


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
        return StreamingResponse(
            csv_stream(self.sessions.ctx, reader.viewer, filters, language=reader.language),
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


def csv_stream(
    ctx: ServiceContext, viewer: listing.Viewer, filters: listing.Filters, *, language: str
) -> AsyncIterator[bytes]:
    """The CSV of the cases ``filters`` match that ``viewer`` sees, names in ``language``."""
    return _csv(listing.export(ctx, viewer, filters, language=language, shape=CsvLines()))


async def _csv(batches: AsyncGenerator[list[str]]) -> AsyncIterator[bytes]:
    """The CSV's bytes, a batch of lines at a time: the header after a BOM (a spreadsheet then
    reads the Chinese text as UTF-8), then each batch's lines as they are read; the batches
    closed with it (a client gone: nothing is left reading)."""
    yield ("\ufeff" + HEADER).encode("utf-8")
    async with aclosing(batches):
        async for lines in batches:
            yield "".join(lines).encode("utf-8")
