"""The routes of the ``servicerequestupdates`` extension under ``/open311/v2/``: GET a window
of updates and POST a city's update (``.json``/``.xml``, a key on both), and GET a photo of a
fix an update's ``media_url`` names (to a key for the case's community, in its header)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.config import Settings
from bot.media.images import image_type
from bot.media.kept import PhotoCache, TelegramFiles, photo_bytes
from bot.services.cases.photos import MAX_POSITION
from bot.services.cases.routing import zone
from bot.services.unit.context import ServiceContext
from db import queries
from db.directory_cache import DirectorySnapshot
from db.models import Community

from ..errors import Problem, problem_response
from ..formats import render
from ..keys import Key
from ..own_writes import KeyReads
from ..params import case_number, language_of, page_of, span_of
from .city import post_update, read_update
from .listing import Window
from .shape import MEDIA, ROOT

Handler = Callable[[Request, str, str, Key | None], Awaitable[Response]]


class Api(Protocol):
    """What these routes use of the GeoReport v2 endpoints (``routes.Open311Api``)."""

    ctx: ServiceContext
    settings: Settings
    kick: Callable[[], None]
    reads: KeyReads

    def answer(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]: ...

    async def gate(self, request: Request) -> Key | None: ...

    async def form(self, request: Request) -> tuple[dict[str, str], Key]: ...

    async def throttle(self, key: Key) -> None: ...

    async def snapshot(self) -> DirectorySnapshot: ...

    def scope(
        self, params: Mapping[str, str], key: Key | None, snapshot: DirectorySnapshot
    ) -> tuple[list[Community], bool]: ...


class UpdateRoutes:
    """The extension's endpoints on the GeoReport v2 ones."""

    def __init__(self, api: Api) -> None:
        self.api = api
        # A fix photo sent on Telegram is kept as its file id: fetched from there when asked for.
        self.telegram = TelegramFiles.of(api.settings)
        self.cache = PhotoCache()

    def routes(self) -> list[BaseRoute]:
        """The routes to mount before the endpoint's catch-all."""
        updates = self.api.answer(self.updates)
        return [
            Route("/open311/v2/servicerequestupdates.{fmt}", updates, methods=["GET", "POST"]),
            Route(
                MEDIA.replace("{number}", "{number:int}").replace("{position}", "{position:int}"),
                self.media,
                methods=["GET"],
            ),
        ]

    async def updates(self, request: Request, fmt: str, language: str, key: Key | None) -> Response:
        """GET the updates of a window (``start_date``/``end_date`` as GET requests: 90 days at
        most, the last 90 by default; ``jurisdiction_id``; ``page``/``page_size``), or POST one."""
        api = self.api
        if request.method == "POST":
            return await self._post(request, fmt, language)
        if key is None:
            raise Problem(403, "open311.err.key_missing")
        params = request.query_params
        communities, chosen = api.scope(params, key, await api.snapshot())
        async with api.ctx.db.reading() as session:
            span = span_of(params, api.ctx.clock(), await zone(session))
        limited = chosen or bool(key.communities)
        window = Window(
            start=span.start,
            end=span.end,
            communities=tuple(c.id for c in communities) if limited else None,
            page=page_of(params),
        )
        found = await api.reads.updates(key, window, language, base_url=api.settings.public_url)
        return render(fmt, ROOT, found)

    async def _post(self, request: Request, fmt: str, language: str) -> Response:
        api = self.api
        form, key = await api.form(request)
        await api.throttle(key)
        update = read_update(form)
        api.scope(form, key, await api.snapshot())  # a jurisdiction_id given is the key's
        ours = await post_update(api.ctx, update, key, language)
        api.kick()
        await api.reads.wrote(key)
        return render(fmt, ROOT, [{"update_id": ours}])

    async def media(self, request: Request) -> Response:
        """A photo of a case, to a key for its community; 404 for any other case or photo."""
        api = self.api
        language = language_of(
            request.query_params.get("locale", ""),
            request.headers.get("accept-language", ""),
            api.settings.default_language,
        )
        try:
            key = await api.gate(request)
            if key is None:
                raise Problem(403, "open311.err.key_missing")
            return await self._photo(request, key)
        except Problem as problem:
            return problem_response("json", language, problem)

    async def _photo(self, request: Request, key: Key) -> Response:
        unknown = Problem(404, "open311.err.media_unknown", {"path": request.url.path[:200]})
        number = case_number(str(request.path_params["number"]))
        position = int(request.path_params["position"])
        if number is None or not 0 <= position < MAX_POSITION:
            raise unknown
        async with self.api.ctx.db.reading() as session:
            case = await queries.get_case(session=session, number=number)
            if case is None or not key.may_use(case.community_id):
                raise unknown
            photo = await queries.case_photo(session=session, number=number, position=position)
        # Bytes we keep (fetched, or sent as a file), or Telegram's, by the file id we keep.
        content = (
            await photo_bytes(photo.content, photo.file_id, self.telegram, self.cache)
            if photo is not None
            else None
        )
        kind = image_type(content) if content else None
        if content is None or kind is None:
            raise unknown
        headers = {"cache-control": "private, max-age=300"}
        return Response(content, media_type=kind, headers=headers)
