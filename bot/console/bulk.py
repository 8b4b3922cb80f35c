"""POST ``/console/cases/bulk``: the list's selected cases handed to another manager or closed in
one form (with the session's CSRF token), each case by its own use case, and a page saying what
happened to each — done, or not done and why."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from bot.services.cases import lifecycle
from bot.services.staff import bulk as staff_bulk
from bot.services.staff import listing
from core.cases import Action
from core.texts import render

from .pages import MAX_REASON, case_number, said
from .render import page
from .security import CSRF_FIELD, CSRF_HEADER, csrf_ok
from .session import Reader, Sessions, forbidden

# One page's worth of ticked cases and the form's own fields (the session's reader takes 20).
MAX_FIELDS = staff_bulk.MAX_CASES + 10
HOME = "/console/cases"


@dataclass(frozen=True, slots=True)
class Bulk:
    """The list's bulk form."""

    sessions: Sessions

    async def apply(self, request: Request) -> Response:
        """Reassign or close the ticked cases; the summary page, or why nothing was done (400,
        nothing changed: no case ticked, no manager, a close without its note)."""
        reader = await self.sessions.reader(request)
        if reader is None:
            return self.sessions.signed_out(request)
        form = await request.form(max_files=0, max_fields=MAX_FIELDS)
        field = form.get(CSRF_FIELD)
        given = request.headers.get(CSRF_HEADER) or (field if isinstance(field, str) else None)
        if not csrf_ok(reader.csrf, given):
            return forbidden(reader.language)
        back = _back(form)
        numbers = [n for v in form.getlist("number") if (n := _number(v)) is not None]
        wanted, problem = _request_of(form)
        if not numbers:
            problem = "web.b_none"
        if wanted is None or problem:
            return self._summary(reader, back, problem=problem or "web.bad_form")
        form_id = form.get("form")
        outcomes = await staff_bulk.act_on_cases(
            self.sessions.ctx,
            reader.viewer,
            numbers=numbers,
            request=wanted,
            form_id=form_id if isinstance(form_id, str) else "",
        )
        self.sessions.kick()  # the cards and messages of the changes go out now
        if wanted.action is Action.REASSIGN:
            manager = wanted.manager_id or ""
            names = await listing.names_of(self.sessions.ctx, [manager])
            done = render(reader.language, "web.b_reassigned", manager=names.get(manager, manager))
        else:
            done = render(reader.language, "web.b_closed")
        return self._summary(reader, back, outcomes=outcomes, done=done)

    def _summary(
        self,
        reader: Reader,
        back: str,
        *,
        problem: str = "",
        outcomes: list[staff_bulk.Outcome] | None = None,
        done: str = "",
    ) -> Response:
        """The page after the form: each case's outcome, or the one problem of the form."""
        found = outcomes or []
        rows = [
            (o.number, "done" if o.done else "again" if o.again else "refused", _why(o, reader))
            for o in found
        ]
        return page(
            "bulk.html",
            language=reader.language,
            status_code=400 if problem else 200,
            problem=problem,
            rows=rows,
            done=done,
            done_count=sum(1 for o in found if o.done),
            refused_count=sum(1 for o in found if not o.done and not o.again),
            back=back,
            reader=reader,
            viewer=reader.viewer,
            csrf=reader.csrf,
            here=back,
        )


def _why(outcome: staff_bulk.Outcome, reader: Reader) -> str:
    """A refused case's reason in the reader's words."""
    return said(outcome.refusal, reader.language) if outcome.refusal is not None else ""


def _request_of(form: FormData) -> tuple[lifecycle.Request | None, str]:
    """The use case's request the form asks for, or the problem that stops the whole form."""
    action, reason = form.get("action"), form.get("reason")
    note = reason[:MAX_REASON] if isinstance(reason, str) else ""
    if action == Action.REASSIGN.value:
        manager = form.get("manager")
        if not isinstance(manager, str) or not manager.strip():
            return None, "web.b_no_manager"
        return lifecycle.Request(Action.REASSIGN, manager_id=manager.strip(), note=note), ""
    if action == Action.CLOSE.value:
        if not note.strip():
            return None, "web.b_no_reason"
        return lifecycle.Request(Action.CLOSE, note=note), ""
    return None, ""


def _number(value: object) -> int | None:
    return case_number(value) if isinstance(value, str) else None


def _back(form: FormData) -> str:
    """The list the form was sent from, with its filters (never a page elsewhere)."""
    target = form.get("next")
    url = target if isinstance(target, str) else HOME
    if (url != HOME and not url.startswith(HOME + "?")) or "\\" in url:
        return HOME
    return url
