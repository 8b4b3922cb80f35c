"""The console's view of one request: who is signed in (from the signed cookie and the session
row; the list's own refresh does not count as the user's activity), in which language, and the
CSRF check of a form — with the answers every page shares."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot.services.staff import signin
from bot.services.staff.listing import Viewer, viewer_of
from bot.services.unit.context import ServiceContext

from .render import message
from .security import BACKGROUND_HEADER, COOKIE, CSRF_FIELD, CSRF_HEADER, CookieJar, csrf_ok

MAX_FIELDS = 20


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

    def session_id(self, request: Request) -> str | None:
        """The session id this browser's cookie names, when its signature holds."""
        return self.jar.session_id(request.cookies.get(COOKIE))

    async def reader(self, request: Request) -> Reader | None:
        """The signed-in reader of ``request``, or None."""
        session_id = self.session_id(request)
        if session_id is None:
            return None
        found = await signin.current(
            self.ctx, session_id=session_id, background=background(request)
        )
        if found is None:
            return None
        async with self.ctx.db.reading() as session:
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
