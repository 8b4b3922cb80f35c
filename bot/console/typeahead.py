"""GET ``/console/choices/<kind>``: the suggestions of the list's type-aheads (communities,
holders, the bulk reassignment's managers), which replace a filter's ``<select>`` once it would
list more than a few hundred options — as ``<option>``s for the field's ``<datalist>``, only
what the reader may filter by."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from bot.services.staff import choosing

from .render import message, page
from .session import Sessions


@dataclass(frozen=True, slots=True)
class TypeAhead:
    """The type-aheads' one endpoint."""

    sessions: Sessions

    async def suggest(self, request: Request) -> Response:
        """Up to 20 options of the kind the path names whose id or name holds what was typed:
        ``q``, or the field itself as htmx sends it (``community=…``)."""
        reader = await self.sessions.needed(request)
        if isinstance(reader, Response):
            return reader
        kind: str = request.path_params["kind"]
        if kind not in choosing.KINDS:
            return message("web.not_found", language=reader.language, status_code=404)
        params = request.query_params
        text = params.get("q") or params.get(choosing.FIELDS[kind], "")
        found = await choosing.matches(self.sessions.ctx, reader.viewer, kind, text)
        return page("_options.html", language=reader.language, options=found)
