"""Merging from the console: a case into the one that carries its problem on ("合并到…", or one
click on a likely duplicate), and undoing it — the bot's own use case (``merge``) with channel
``web``, for staff of the case's community; the services refuse anyone else. A refusal is said
beside the form it was sent from, and nothing changes."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from bot.services.staff import case as workplace_case
from bot.services.unit.context import ServiceRefusal
from bot.services.unit.inbound import AlreadyHandled
from core.texts import render

from . import inline
from .pages import Pages, case_number, said
from .render import message
from .session import Reader


@dataclass(frozen=True, slots=True)
class Merging:
    """The merge and undo forms of a case page."""

    pages: Pages

    async def merge(self, request: Request) -> Response:
        """POST ``/console/cases/<n>/merge``: case n merged into case ``into``; then the page the
        form was on (``shown``: n's or the original's)."""
        posted = await self.pages.sessions.posted(request)
        if isinstance(posted, Response):
            return posted
        reader, form = posted
        number: int = request.path_params["number"]
        into = case_number(_field(form, "into"))
        shown = case_number(_field(form, "shown"))
        back = shown if shown is not None and shown in (number, into) else number
        slot = inline.slot_of(_field(form, "slot")) or "merge"
        if into is None:
            refusal = render(reader.language, "web.bad_form")
            return await self.pages.refuse(request, reader, back, refusal, slot, status_code=400)
        ctx, form_id = self.pages.sessions.ctx, _field(form, "form")
        try:
            await workplace_case.merge_case(
                ctx, reader.viewer, number=number, into=into, form_id=form_id
            )
        except ServiceRefusal as refused:
            return await self._refused(request, reader, back, refused, slot)
        except workplace_case.NotVisible:
            return message("web.not_found", language=reader.language, status_code=404)
        except AlreadyHandled:
            pass  # the same form sent again: done once already
        self.pages.sessions.kick()  # B's people are told, A's holder too: now
        return inline.done(request, f"/console/cases/{back}")

    async def unmerge(self, request: Request) -> Response:
        """POST ``/console/cases/<n>/unmerge``: case n handled on its own again, as it was."""
        posted = await self.pages.sessions.posted(request)
        if isinstance(posted, Response):
            return posted
        reader, form = posted
        number: int = request.path_params["number"]
        ctx, form_id = self.pages.sessions.ctx, _field(form, "form")
        try:
            await workplace_case.unmerge_case(ctx, reader.viewer, number=number, form_id=form_id)
        except ServiceRefusal as refused:
            return await self._refused(request, reader, number, refused, "unmerge")
        except workplace_case.NotVisible:
            return message("web.not_found", language=reader.language, status_code=404)
        except AlreadyHandled:
            pass
        self.pages.sessions.kick()
        return inline.done(request, f"/console/cases/{number}")

    async def _refused(
        self, request: Request, reader: Reader, number: int, refused: ServiceRefusal, slot: str
    ) -> Response:
        """Why nothing changed, beside the form of ``slot`` on case ``number``'s page."""
        refusal = said(refused, reader.language)
        return await self.pages.refuse(request, reader, number, refusal, slot, status_code=409)


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""
