"""The GeoReport v2 endpoints under ``/open311/v2/``, each in ``.json`` and ``.xml``: discovery,
services, a service's definition, POST and GET requests, GET one request. Every refusal is a
``Problem`` answered in the format asked for; the key is checked before a form is read, every
GET is counted against a sliding minute, and nothing is written before the form is checked."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping
from contextlib import aclosing

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.config import Settings
from bot.media.fetch import FetchPolicy, Refused, fetch_image
from bot.media.guard import Allowance
from bot.services.cases.photos import NewPhoto
from bot.services.cases.routing import zone
from bot.services.unit.context import ServiceContext, ServiceRefusal
from bot.services.unit.limits import Limited
from core.texts import CATALOGS
from core.texts import render as say
from db.directory_cache import DirectorySnapshot, directory
from db.models import Community

from . import body, keys, reading, service_list
from .describe import notice
from .directory_view import describing_context
from .errors import Problem, problem_response
from .filing import CHANNEL, file_request
from .form import read_filing
from .formats import FORMATS, render
from .own_writes import KeyReads
from .params import case_number, comma_list, language_of, page_of, request_ids, span_of, state_of
from .throttle import ReadLimits
from .updates.routes import UpdateRoutes

BASE = "/open311/v2"
MAX_KEY = 200
CHANGESET = "2026-12-03T00:00:00Z"  # when the served documents last changed shape

# An endpoint: the request, its format and language, and the reader's key (None for a POST,
# which reads its own, and for a GET without one).
Handler = Callable[[Request, str, str, keys.Key | None], Awaitable[Response]]


class Open311Api:
    """The endpoints, on the use cases' context and the process's settings."""

    def __init__(self, ctx: ServiceContext, settings: Settings, kick: Callable[[], None]) -> None:
        self.ctx, self.settings, self.kick = ctx, settings, kick  # the updates' routes use them
        self._reads = ReadLimits(settings.open311_reads_per_minute)
        self.reads = KeyReads(ctx)  # searches on a replica, save a key's own fresh writes
        self._media = FetchPolicy(
            max_bytes=settings.media_max_bytes,
            allowance=Allowance.parse(settings.media_fetch_allow),
        )

    def routes(self) -> list[BaseRoute]:
        """The routes to mount on the HTTP server."""
        return [
            Route(f"{BASE}/discovery.{{fmt}}", self.answer(self.discovery), methods=["GET"]),
            Route(f"{BASE}/services.{{fmt}}", self.answer(self.services), methods=["GET"]),
            Route(
                f"{BASE}/services/{{code}}.{{fmt}}",
                self.answer(self.definition),
                methods=["GET"],
            ),
            Route(f"{BASE}/requests.{{fmt}}", self.answer(self.requests), methods=["GET", "POST"]),
            Route(
                f"{BASE}/requests/{{number}}.{{fmt}}", self.answer(self.request), methods=["GET"]
            ),
            *UpdateRoutes(self).routes(),
            Route(f"{BASE}/{{rest:path}}", self.answer(self.unknown), methods=["GET", "POST"]),
        ]

    def answer(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            # Anything else under the endpoint answers in the format its name ends with.
            rest = str(request.path_params.get("rest", ""))
            fmt = str(
                request.path_params.get("fmt", rest.rpartition(".")[2] if "." in rest else "")
            )
            language = language_of(
                request.query_params.get("locale", ""),
                request.headers.get("accept-language", ""),
                self.settings.default_language,
            )
            try:
                # Every read is counted: a HEAD does a GET's work, only its body is dropped.
                key = await self.gate(request) if request.method != "POST" else None
                if fmt not in FORMATS:
                    raise Problem(404, "open311.err.format", {"fmt": fmt[:20]})
                return await handler(request, fmt, language, key)
            except Problem as problem:
                return problem_response(fmt, language, problem)

        return endpoint

    # ---- the endpoints -------------------------------------------------------------------------

    async def discovery(
        self, request: Request, fmt: str, language: str, key: keys.Key | None
    ) -> Response:
        """GET discovery: this endpoint and its formats."""
        url = self.settings.public_url.rstrip("/") + BASE
        return render(fmt, "discovery", service_list.discovery(url, language, CHANGESET))

    async def services(
        self, request: Request, fmt: str, language: str, key: keys.Key | None
    ) -> Response:
        """GET services (no key needed; one given must be valid)."""
        params = request.query_params
        snapshot = await self.snapshot()
        self.scope(params, key, snapshot)
        listed = service_list.services(snapshot.active_categories(), language)
        return render(fmt, "services", listed)

    async def definition(
        self, request: Request, fmt: str, language: str, key: keys.Key | None
    ) -> Response:
        """GET services/{service_code}: the attributes a request of it may carry."""
        params = request.query_params
        snapshot = await self.snapshot()
        code = str(request.path_params["code"])
        category = snapshot.categories.get(code)
        if category is None or not category.active:
            raise Problem(404, "open311.err.service_unknown", {"code": code[:80]})
        communities, chosen = self.scope(params, key, snapshot)
        document = service_list.definition(category, communities, language, chosen=chosen)
        return render(fmt, "service_definition", document)

    async def requests(
        self, request: Request, fmt: str, language: str, key: keys.Key | None
    ) -> Response:
        """GET or POST requests. A search by ``service_request_id`` needs no key; any other
        search needs one unless the operator opens closed requests to all."""
        if request.method == "POST":
            return await self._post(request, fmt, language)
        params = request.query_params
        numbers = request_ids(params, keyed=key is not None)
        if numbers is None:
            self._reader(key)
        snapshot = await self.snapshot()
        communities, chosen = self.scope(params, key, snapshot)
        async with self.ctx.db.reading() as session:
            tz = await zone(session)
        span = span_of(params, self.ctx.clock(), tz)
        # By id, any community's requests are found (each served as the reader may see it);
        # a search stays within the key's communities.
        limited = chosen or (numbers is None and key is not None and bool(key.communities))
        wanted = reading.Wanted(
            start=span.start,
            end=span.end,
            numbers=numbers,
            codes=comma_list(params, "service_code"),
            state=state_of(params),
            communities=tuple(c.id for c in communities) if limited else None,
            only_closed=key is None and numbers is None,
            page=page_of(params),
        )
        found = await self.reads.requests(key, wanted, self._reading_as(key), language)
        return render(fmt, "service_requests", found)

    async def request(
        self, request: Request, fmt: str, language: str, key: keys.Key | None
    ) -> Response:
        """GET requests/{service_request_id}, with or without a key. A request outside the
        ``jurisdiction_id`` named answers exactly as one that does not exist."""
        params = request.query_params
        text = str(request.path_params["number"])
        unknown = Problem(404, "open311.err.request_unknown", {"id": text[:20]})
        number = case_number(text)
        if number is None:
            raise unknown
        snapshot = await self.snapshot()
        communities, chosen = self.scope(params, key, snapshot)
        wanted = reading.Wanted(
            numbers=(number,),
            communities=tuple(c.id for c in communities) if chosen else None,
        )
        found = await self.reads.requests(key, wanted, self._reading_as(key), language)
        if not found:
            raise unknown
        return render(fmt, "service_requests", found)

    async def unknown(
        self, request: Request, fmt: str, language: str, key: keys.Key | None
    ) -> Response:
        """Anything else under the endpoint."""
        raise Problem(404, "open311.err.not_found", {"path": request.url.path[:200]})

    # ---- POST requests ---------------------------------------------------------------------------

    async def _post(self, request: Request, fmt: str, language: str) -> Response:
        form, key = await self.form(request)
        await self.throttle(key)
        filing = read_filing(form, key, await self.snapshot())
        photos = await self._photos(filing.media_url, language)
        try:
            case = await file_request(self.ctx, filing, key, language=language, photos=photos)
        except Limited:
            raise Problem(429, "open311.err.limited", {}, {"Retry-After": "600"}) from None
        except ServiceRefusal as refusal:
            raise Problem(400, refusal.reason, refusal.params) from None
        self.kick()
        await self.reads.wrote(key)
        async with self.ctx.db.reading() as session:
            at = await describing_context(session, language)
        answer = {
            "service_request_id": str(case.number),
            "service_notice": notice(case, at),
            "account_id": filing.account_id,
        }
        return render(fmt, "service_requests", [answer])

    async def form(self, request: Request) -> tuple[dict[str, str], keys.Key]:
        """The form and its valid key. A key in the header or query is checked before a byte of
        the body is read; else the form is read only as far as its ``api_key``, which is checked
        the moment it arrives. Whatever stops the reading before a valid key is known is 403:
        a request without one costs a bounded read and no more."""
        given = keys.given(request.headers, request.query_params)
        key = await self._key(given) if given else None
        form: dict[str, str] = {}
        try:
            async with aclosing(body.fields(request)) as fields:
                async for name, value in fields:
                    form.setdefault(name, value)  # the first of a repeated field
                    if key is None and name == "api_key":
                        key = await self._key(value)  # a wrong key: 403 now, the rest unread
        except body.FormRefused as refused:
            if key is None:
                raise Problem(403, "open311.err.key_missing") from None
            raise Problem(400, f"open311.err.{refused.reason}") from None
        if key is None:
            raise Problem(403, "open311.err.key_missing")
        return form, key

    async def throttle(self, key: keys.Key) -> None:
        """Count a POST of ``key``: 429 with ``Retry-After`` past ``OPEN311_POSTS_PER_MINUTE``."""
        per_minute = self.settings.open311_posts_per_minute
        wait = await keys.take_post(self.ctx, key, per_minute=per_minute)
        if wait is not None:
            seconds = str(math.ceil(wait))
            params = {"limit": per_minute, "seconds": seconds}
            raise Problem(429, "open311.err.rate_limited", params, {"Retry-After": seconds})

    async def _photos(self, url: str | None, language: str) -> tuple[NewPhoto, ...]:
        """The image at ``url`` as the case's photo; a 400 saying why when it may not be had."""
        if not url:
            return ()
        try:
            image = await fetch_image(url, self._media)
        except Refused as refused:
            reason = f"open311.media.{refused.reason}"
            said = say(language, reason) if reason in CATALOGS["zh"] else refused.reason
            raise Problem(400, "open311.err.media", {"reason": said}) from None
        return (NewPhoto(source=CHANNEL, content=image.content, content_type=image.content_type),)

    # ---- keys and scope ----------------------------------------------------------------------

    async def _key(self, raw: str) -> keys.Key:
        """The valid key ``raw`` is; 403 when missing, unknown or revoked."""
        raw = raw.strip()
        if not raw:
            raise Problem(403, "open311.err.key_missing")
        found = await keys.check_key(self.ctx, raw) if len(raw) <= MAX_KEY else None
        if found is None:
            raise Problem(403, "open311.err.key_invalid")
        if not isinstance(found, keys.Key):
            raise Problem(403, "open311.err.key_revoked")
        return found

    async def gate(self, request: Request) -> keys.Key | None:
        """The valid key a GET gives (None: none given; 403 a wrong one), once the GET is
        counted: against the key's minute, or without a valid key the client address's. 429
        with ``Retry-After`` past ``OPEN311_READS_PER_MINUTE``."""
        given = keys.given(request.headers, request.query_params)
        key: keys.Key | None = None
        refusal: Problem | None = None
        if given:
            try:
                key = await self._key(given)
            except Problem as problem:
                refusal = problem  # a wrong key counts against the address: no free guesses
        host = request.client.host if request.client else None
        self._reads.count(key.id if key else None, host, self.ctx.clock().timestamp())
        if refusal is not None:
            raise refusal
        return key

    def _reader(self, key: keys.Key | None) -> None:
        """Requests are searched with a valid key, or without one when the operator allows it."""
        if key is None and not self.settings.open311_public_read:
            raise Problem(403, "open311.err.needs_key")

    def _reading_as(self, key: keys.Key | None) -> reading.Reader:
        return reading.reader_for(key, closed_public=self.settings.open311_public_read)

    async def snapshot(self) -> DirectorySnapshot:
        async with self.ctx.db.reading() as session:
            return await directory(session)

    def scope(
        self, params: Mapping[str, str], key: keys.Key | None, snapshot: DirectorySnapshot
    ) -> tuple[list[Community], bool]:
        """The communities asked about: ``jurisdiction_id``'s (404 unknown, 403 not the key's)
        and True, else all the key may use and False."""
        wanted = params.get("jurisdiction_id", "").strip()
        if not wanted:
            allowed = key.communities if key is not None else None
            return service_list.usable_communities(snapshot, allowed), False
        community = snapshot.communities.get(wanted)
        if community is None or not community.active:
            raise Problem(404, "open311.err.jurisdiction_unknown", {"id": wanted[:80]})
        if key is not None and not key.may_use(community.id):
            raise Problem(403, "open311.err.jurisdiction_forbidden", {"id": wanted[:80]})
        return [community], True
