"""The console's view of one request: who is signed in (from the signed cookie and the session
row; the list's own refresh does not count as the user's activity), in which language, the CSRF
check of a form, and which database its lists read (a replica only once it has replayed this
browser's own last action) — with the answers every page shares."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from starlette.datastructures import FormData, MutableHeaders
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.services.staff import signin
from bot.services.staff.listing import Viewer, viewer_of
from bot.services.unit.context import ServiceContext
from db.engine import Database
from db.replica import FAILURES

from .render import message
from .security import BACKGROUND_HEADER, COOKIE, CSRF_FIELD, CSRF_HEADER, CookieJar, csrf_ok

MAX_FIELDS = 20
# The primary's WAL position after this browser's last POST, signed: its lists come from the
# replica only once that has replayed so far (read-your-writes, on whichever instance serves).
WRITTEN_COOKIE = "wolaiban_written"
MAX_WRITTEN = 64


@dataclass(frozen=True, slots=True)
class Reader:
    """A signed-in request: the viewer, the session's language and CSRF token, its id."""

    viewer: Viewer
    language: str
    csrf: str
    session_id: str


@dataclass(frozen=True, slots=True)
class Sessions:
    """Reads and ends sessions for the console's routes."""

    ctx: ServiceContext
    jar: CookieJar
    kick: Callable[[], None]
    # A session's absolute lifetime (CONSOLE_SESSION_HOURS), given to each one at sign-in.
    lifetime: timedelta = signin.SESSION_LIFETIME
    # Where sign-in is checked when ``ctx`` reads from a replica: always the primary (a session
    # just ended or begun is never judged by a copy that lags).
    primary: ServiceContext | None = None

    @property
    def home(self) -> ServiceContext:
        """The context on the primary."""
        return self.primary or self.ctx

    def session_id(self, request: Request) -> str | None:
        """The session id this browser's cookie names, when its signature holds."""
        return self.jar.session_id(request.cookies.get(COOKIE))

    async def reader(self, request: Request) -> Reader | None:
        """The signed-in reader of ``request``, or None."""
        session_id = self.session_id(request)
        if session_id is None:
            return None
        found = await signin.current(
            self.home, session_id=session_id, background=background(request)
        )
        if found is None:
            return None
        async with self.home.db.reading() as session:
            viewer = await viewer_of(session, found.person)
        return Reader(viewer, found.row.language, found.row.csrf, session_id)

    async def needed(self, request: Request) -> Reader | Response:
        """The signed-in reader of ``request``, or the answer to someone signed out (401)."""
        reader = await self.reader(request)
        return reader if reader is not None else self.signed_out(request)

    async def posted(self, request: Request) -> tuple[Reader, FormData] | Response:
        """A POST's reader and form, or the answer refusing it: 401 signed out, 403 without
        the session's CSRF token (nothing is done either way)."""
        reader = await self.reader(request)
        if reader is None:
            return self.signed_out(request)
        form = await checked_form(request, reader)
        return (reader, form) if form is not None else forbidden(reader.language)

    def lagging(
        self, show: Callable[[Sessions, Request], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        """An endpoint showing a page whose reads may lag (a list, the rates, the export): on
        the replica once it has replayed this browser's last action, else (or when it fails) on
        the primary. ``show`` gets these sessions reading from the database chosen."""

        async def endpoint(request: Request) -> Response:
            home = self.home

            async def on(db: Database) -> Response:
                chosen = dataclasses.replace(home, db=db)
                return await show(dataclasses.replace(self, ctx=chosen, primary=home), request)

            cookie = request.cookies.get(WRITTEN_COOKIE) if home.db.replica else None
            after = self.jar_of_writes().position(cookie)
            return await home.db.read_lagging(on, after=after)

        return endpoint

    def jar_of_writes(self) -> WrittenJar:
        """The signer of this browser's last write position."""
        return WrittenJar(self.jar)

    def language(self, request: Request) -> str:
        """The language for a page shown to someone not signed in."""
        accept = request.headers.get("accept-language", "").lower()
        return "en" if accept.startswith("en") else self.ctx.default_language

    def signed_out(self, request: Request) -> Response:
        """The answer to a request that needs a session and has none. htmx swaps nothing on a
        401, so a list refreshing itself would go on showing what it last had: it is told to
        reload the page, which then says the session has ended."""
        answer = message("web.sign_in_first", language=self.language(request), status_code=401)
        if request.headers.get("hx-request") == "true":
            answer.headers["HX-Refresh"] = "true"
        return answer

    def sign_in(self, response: Response, session_id: str) -> Response:
        """``response`` carrying the cookie of a new session."""
        response.set_cookie(COOKIE, self.jar.value(session_id), **self.jar.options())  # type: ignore[arg-type]
        return response

    def forget(self, response: Response) -> Response:
        """``response`` removing the session cookie."""
        options = self.jar.options()
        response.delete_cookie(
            COOKIE, path="/console", secure=bool(options["secure"]), httponly=True, samesite="lax"
        )
        return response


@dataclass(frozen=True, slots=True)
class WrittenJar:
    """Signs a WAL position into the ``wolaiban_written`` cookie and reads it back."""

    jar: CookieJar

    def _mac(self, text: str) -> str:
        # A key of its own, made from CONSOLE_SECRET: no other signed value reads as a position.
        key = hashlib.sha256(b"wolaiban-console-written\n" + self.jar.secret.encode()).digest()
        return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()[:32]

    def value(self, position: int) -> str:
        """The cookie value for ``position``: the number and its signature."""
        return f"{position}.{self._mac(str(position))}"

    def position(self, value: str | None) -> int | None:
        """The position a cookie value holds; None when missing or forged."""
        if not value or len(value) > MAX_WRITTEN:
            return None
        number, _, mac = value.partition(".")
        if not number.isascii() or not number.isdigit():
            return None
        return (
            int(number) if hmac.compare_digest(mac.encode(), self._mac(number).encode()) else None
        )

    def header(self, position: int) -> str:
        """The ``Set-Cookie`` value carrying ``position`` (the session cookie's options)."""
        carrier = Response()
        carrier.set_cookie(WRITTEN_COOKIE, self.value(position), **self.jar.options())  # type: ignore[arg-type]
        return carrier.headers["set-cookie"]


class RememberWrites:
    """ASGI middleware: the answer to a POST carries the primary's WAL position once its work
    is committed (``Sessions.lagging`` reads the replica for this browser only past it). Nothing
    without a replica."""

    def __init__(self, app: ASGIApp, sessions: Sessions) -> None:
        self.app, self.sessions = app, sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        db = self.sessions.home.db
        if scope["type"] != "http" or scope["method"] != "POST" or db.replica is None:
            await self.app(scope, receive, send)
            return
        jar = self.sessions.jar_of_writes()

        async def sending(message: Message) -> None:
            # The use case has committed by the time its answer starts.
            if message["type"] == "http.response.start":
                try:
                    position = await db.written()
                except FAILURES:
                    position = None  # the primary went away: there is nothing newer to wait for
                if position is not None:
                    MutableHeaders(scope=message).append("set-cookie", jar.header(position))
            await send(message)

        await self.app(scope, receive, sending)


def background(request: Request) -> bool:
    """True for a request the page made by itself (the list's refresh), not the user."""
    return request.headers.get(BACKGROUND_HEADER) == "1"


async def checked_form(request: Request, reader: Reader) -> FormData | None:
    """The POSTed form when it carries the session's CSRF token (field or htmx header)."""
    form = await request.form(max_files=0, max_fields=MAX_FIELDS)
    field = form.get(CSRF_FIELD)
    given = request.headers.get(CSRF_HEADER) or (field if isinstance(field, str) else None)
    return form if csrf_ok(reader.csrf, given) else None


def forbidden(language: str) -> Response:
    """The answer to a POST without a valid CSRF token: nothing was done."""
    return message("web.csrf_failed", language=language, status_code=403)


def back_to(form: FormData, default: str = "/console/cases") -> RedirectResponse:
    """A redirect to the console page the form names (never elsewhere), else ``default``."""
    target = form.get("next")
    url = target if isinstance(target, str) else default
    if not url.startswith("/console/") or url.startswith("//") or "\\" in url:
        url = default
    return RedirectResponse(url, status_code=303)
