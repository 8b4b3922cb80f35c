"""The staff console's routes under ``/console``: sign-in by one-time link (its form bound to the
browser), sign-out, the language switch, the pages (a case reporter's page with its export and
erase among them), the list's bulk form and type-aheads, the static files — with the security
headers on every answer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from bot.config import Settings
from bot.media.kept import TelegramFiles
from bot.services.staff import signin
from bot.services.unit.context import ServiceContext

from .bulk import Bulk
from .downloads import Downloads
from .merging import Merging
from .pages import Pages
from .people import People
from .render import message, page
from .security import CSRF_FIELD, LOGIN_COOKIE, LOGIN_PATH, CookieJar, SecurityHeaders
from .session import MAX_FIELDS, RememberWrites, Sessions, back_to
from .typeahead import TypeAhead

STATIC = Path(__file__).resolve().parent / "static"


class Console:
    """Sign-in, sign-out and the language: what happens around the pages."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions

    async def login_page(self, request: Request) -> Response:
        """GET of a sign-in link: a button to press. Spending the token on a GET would let a
        link preview (Telegram fetches links it shows) use it up. The form carries a token bound
        to this browser's sign-in cookie and to the link (login CSRF)."""
        token = request.path_params["token"]
        language = self.sessions.language(request)
        jar = self.sessions.jar
        nonce = jar.login_nonce(request.cookies.get(LOGIN_COOKIE))
        shown = page(
            "login.html", language=language, token=token, proof=jar.login_proof(nonce, token)
        )
        shown.set_cookie(LOGIN_COOKIE, nonce, **jar.login_options())  # type: ignore[arg-type]
        return shown

    async def login(self, request: Request) -> Response:
        """POST of a sign-in link: the token spent on a new session (a new id, whatever cookie
        the browser brought: a planted session id never becomes a signed-in one) — only with the
        form's token of this browser's sign-in page, and not from another site."""
        token: str = request.path_params["token"]
        previous = self.sessions.session_id(request)
        language = self.sessions.language(request)
        if not await signin.link_open(self.sessions.ctx, token=token):
            refused = message("web.link_invalid", language=language, status_code=410)
            return self.sessions.forget(refused) if previous else refused
        form = await request.form(max_files=0, max_fields=MAX_FIELDS)
        given = form.get(CSRF_FIELD)
        proven = self.sessions.jar.login_ok(
            request.cookies.get(LOGIN_COOKIE), token, given if isinstance(given, str) else None
        )
        if not proven or request.headers.get("sec-fetch-site") == "cross-site":
            return message("web.login_refused", language=language, status_code=403)
        signed = await signin.sign_in(
            self.sessions.ctx, token=token, previous=previous, lifetime=self.sessions.lifetime
        )
        if signed is None:  # spent meanwhile, by another request with the same link
            refused = message("web.link_invalid", language=language, status_code=410)
            return self.sessions.forget(refused) if previous else refused
        home = RedirectResponse("/console/cases", status_code=303)
        home.delete_cookie(
            LOGIN_COOKIE, path=LOGIN_PATH, secure=self.sessions.jar.secure, httponly=True
        )
        return self.sessions.sign_in(home, signed.session_id)

    async def logout(self, request: Request) -> Response:
        """POST: the session ends (its row is deleted), the cookie goes."""
        posted = await self.sessions.posted(request)
        if isinstance(posted, Response):
            return self.sessions.forget(posted) if posted.status_code == 401 else posted
        reader, _ = posted
        await signin.sign_out(self.sessions.ctx, session_id=reader.session_id)
        done = message("web.signed_out", language=reader.language, status_code=200)
        return self.sessions.forget(done)

    async def language(self, request: Request) -> Response:
        """POST: the console's language for this session; back to the page it was sent from."""
        posted = await self.sessions.posted(request)
        if isinstance(posted, Response):
            return posted
        reader, form = posted
        chosen = form.get("language")
        if isinstance(chosen, str):
            await signin.set_language(
                self.sessions.ctx, session_id=reader.session_id, language=chosen
            )
        return back_to(form)

    async def home(self, request: Request) -> Response:
        """``/console``: the cases page."""
        return RedirectResponse("/console/cases", status_code=303)


def console_routes(
    settings: Settings, ctx: ServiceContext, kick: Callable[[], None]
) -> list[BaseRoute]:
    """The console's routes, or none when ``CONSOLE_SECRET`` is unset (then ``/console/…`` is
    404 like any unknown path)."""
    if settings.console_secret is None:
        return []
    jar = CookieJar(
        settings.console_secret.get_secret_value(),
        secure=settings.public_url.lower().startswith("https://"),
    )
    lifetime = timedelta(hours=settings.console_session_hours)
    sessions = Sessions(ctx, jar, kick, lifetime)
    console, pages, people = Console(sessions), Pages(sessions), People(sessions)
    telegram = TelegramFiles.of(settings)
    files = Downloads(sessions, telegram)
    merging = Merging(pages)
    bulk = Bulk(sessions)
    app = Starlette(
        routes=[
            Route("/", console.home),
            Route("/login/{token}", console.login_page, methods=["GET"]),
            Route("/login/{token}", console.login, methods=["POST"]),
            Route("/logout", console.logout, methods=["POST"]),
            Route("/language", console.language, methods=["POST"]),
            # The lists, the rates and the export may read from a replica (``lagging``).
            Route("/cases", sessions.lagging(lambda s, r: Pages(s).cases(r))),
            Route("/cases.csv", sessions.lagging(lambda s, r: Downloads(s, telegram).export(r))),
            Route("/cases/bulk", bulk.apply, methods=["POST"]),
            Route("/choices/{kind}", TypeAhead(sessions).suggest),
            Route("/cases/{number:int}", pages.case),
            Route("/cases/{number:int}/act", pages.act, methods=["POST"]),
            Route("/cases/{number:int}/note", pages.note, methods=["POST"]),
            Route("/cases/{number:int}/merge", merging.merge, methods=["POST"]),
            Route("/cases/{number:int}/unmerge", merging.unmerge, methods=["POST"]),
            Route("/cases/{number:int}/photos/{position:int}", files.photo),
            Route("/rates", sessions.lagging(lambda s, r: Pages(s).rates(r))),
            Route("/cases/{number:int}/reporter", people.show),
            Route("/cases/{number:int}/reporter/export", people.export, methods=["POST"]),
            Route("/cases/{number:int}/reporter/erase", people.confirm, methods=["GET"]),
            Route("/cases/{number:int}/reporter/erase", people.erase, methods=["POST"]),
            Mount("/static", app=StaticFiles(directory=STATIC)),
        ],
        middleware=[Middleware(SecurityHeaders), Middleware(RememberWrites, sessions=sessions)],
    )
    return [Mount("/console", app=app)]
