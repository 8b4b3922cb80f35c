"""A case reporter's page in the console: what is held about them, its export as JSON, and its
erase after a confirmation — for staff of the case's community; anyone else gets the same 404 as
for no such case. Export and erase are the services' own, audited there."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot.services.data.erase import erase_person
from bot.services.data.export import export_person
from bot.services.unit.context import Actor, ServiceRefusal
from core.cases import Channel
from core.texts import CATALOGS, render

from .pages import said
from .person_view import PersonView, reporter_url, reporter_view
from .render import message, page
from .session import Reader, Sessions

CONFIRM_FIELD = "confirm"
CONFIRM_WORD = "web.p_erase_word"
ERASED_NOTICE = "erased"  # ``?done=erased``: the page after an erase says so


def confirmed(given: object) -> bool:
    """True when the confirmation field holds the confirm word, in either language (the
    reader may switch language between the page and the press)."""
    if not isinstance(given, str):
        return False
    typed = given.strip().casefold()
    return any(typed == catalog[CONFIRM_WORD].casefold() for catalog in CATALOGS.values())


@dataclass(frozen=True, slots=True)
class People:
    """The reporter's page, its export and its erase."""

    sessions: Sessions

    async def _view(self, reader: Reader, request: Request) -> PersonView | None:
        return await reporter_view(self.sessions.ctx, reader.viewer, _number(request))

    def _page(
        self,
        template: str,
        reader: Reader,
        person: PersonView,
        number: int,
        *,
        status_code: int = 200,
        **values: Any,
    ) -> Response:
        """``template`` about ``person``, the reporter of case ``number``."""
        refused = person.refusal()
        url = reporter_url(number)
        return page(
            template,
            language=reader.language,
            status_code=status_code,
            person=person,
            number=number,
            url=url,
            refusal=said(refused, reader.language) if refused is not None else "",
            word=render(reader.language, CONFIRM_WORD),
            reader=reader,
            viewer=reader.viewer,
            csrf=reader.csrf,
            here=url,
            **values,
        )

    async def _seen(self, request: Request) -> tuple[Reader, PersonView] | Response:
        """The signed-in reader and the case's reporter they may see; else the answer (sign in
        first, or 404 as for a case that does not exist)."""
        reader = await self.sessions.needed(request)
        if isinstance(reader, Response):
            return reader
        person = await self._view(reader, request)
        if person is None:
            return _not_found(reader)
        return reader, person

    async def show(self, request: Request) -> Response:
        """``/console/cases/<n>/reporter``: what is held about them, and the two actions."""
        seen = await self._seen(request)
        if isinstance(seen, Response):
            return seen
        reader, person = seen
        notice = person.erased and request.query_params.get("done") == ERASED_NOTICE
        return self._page("person.html", reader, person, _number(request), notice=notice)

    async def export(self, request: Request) -> Response:
        """POST ``/console/cases/<n>/reporter/export``: everything held, as a JSON download. A POST
        with the session's token, so that another site cannot make a reader's browser ask for
        one (each export is an audit event)."""
        posted = await self.sessions.posted(request)
        if isinstance(posted, Response):
            return posted
        reader, _ = posted
        person = await self._view(reader, request)
        if person is None:
            return _not_found(reader)
        actor = Actor(reader.viewer.person_id, Channel.WEB)
        try:
            data = await export_person(self.sessions.ctx, person.id, actor=actor)
        except ServiceRefusal:  # gone meanwhile (erased by someone else)
            return _not_found(reader)
        body = json.dumps(data, ensure_ascii=False, indent=2, default=str)
        # Named by the case: a person's id may be made from their phone.
        name = f"case-{_number(request)}-reporter.json"
        return Response(
            body.encode("utf-8"),
            media_type="application/json; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="{name}"'},
        )

    async def confirm(self, request: Request) -> Response:
        """``/console/cases/<n>/reporter/erase``: what an erase does, and the word to type."""
        seen = await self._seen(request)
        if isinstance(seen, Response):
            return seen
        reader, person = seen
        return self._page("person_erase.html", reader, person, _number(request), wrong=False)

    async def erase(self, request: Request) -> Response:
        """POST ``/console/cases/<n>/reporter/erase``: with the session's token and the confirm
        word, the erase; then back to the reporter's page, which says it is done."""
        posted = await self.sessions.posted(request)
        if isinstance(posted, Response):
            return posted
        reader, form = posted
        person = await self._view(reader, request)
        if person is None:
            return _not_found(reader)
        number = _number(request)
        if not confirmed(form.get(CONFIRM_FIELD)):
            return self._page(
                "person_erase.html", reader, person, number, status_code=400, wrong=True
            )
        actor = Actor(reader.viewer.person_id, Channel.WEB)
        try:
            await erase_person(self.sessions.ctx, person.id, actor=actor)
        except ServiceRefusal as refused:
            return self._page(
                "person_erase.html",
                reader,
                person,
                number,
                status_code=409,
                wrong=False,
                refused=said(refused, reader.language),
            )
        # The case now names the record they leave: its page says the erase is done.
        return RedirectResponse(f"{reporter_url(number)}?done={ERASED_NOTICE}", status_code=303)


def _number(request: Request) -> int:
    """The case's number in the path."""
    number: int = request.path_params["number"]
    return number


def _not_found(reader: Reader) -> Response:
    """The same answer as for any page that does not exist."""
    return message("web.not_found", language=reader.language, status_code=404)
