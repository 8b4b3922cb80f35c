"""POST ``/console/cases/bulk``: the list's selected cases handed to another manager or closed in
one form (with the session's CSRF token), each case by its own use case, and a page saying what
happened to each — done, or not done and why. A close without a note first offers the saved close
replies of the ticked cases' categories; the one chosen is what each resident receives."""

from __future__ import annotations

from dataclasses import dataclass, replace

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from bot.services.cases import lifecycle
from bot.services.staff import bulk as staff_bulk
from bot.services.staff import listing, replies
from bot.services.unit.context import ServiceRefusal
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
        if not numbers:
            return self._summary(reader, back, problem="web.b_none")
        ctx, closing = self.sessions.ctx, form.get("action") == Action.CLOSE.value
        choice = form.get(replies.FIELD) if closing else None  # only a close sends a reply
        reply = None
        if isinstance(choice, str) and choice.strip():  # a saved reply, from the close step
            reply = await staff_bulk.chosen_reply(
                ctx, reader.viewer, numbers=numbers, choice=choice
            )
            if reply is None:
                return self._summary(reader, back, problem="web.bad_form")
        wanted, problem = _request_of(form, replied=reply is not None)
        if problem == "web.b_no_reason":  # a close without its note: the saved replies, if any
            offered = await staff_bulk.close_replies(
                ctx, reader.viewer, numbers=numbers, language=reader.language
            )
            if offered:  # asked again (400) when the step itself was sent with neither
                return self._close_step(
                    reader, back, form, numbers, offered, again=choice is not None
                )
        if wanted is None or problem:
            return self._summary(reader, back, problem=problem or "web.bad_form")
        outcomes = await staff_bulk.act_on_cases(
            ctx,
            reader.viewer,
            numbers=numbers,
            request=wanted,
            form_id=_text(form, "form"),
            reply=reply,
        )
        self.sessions.kick()  # the cards and messages of the changes go out now
        manager = wanted.manager_id or ""
        names = await listing.names_of(ctx, [manager]) if manager else {}
        if wanted.action is Action.REASSIGN:
            done = render(reader.language, "web.b_reassigned", manager=names.get(manager, manager))
        else:
            done = render(reader.language, "web.b_closed")
        # A refusal names the new holder by id (the use case's words): the page names them.
        named = [_named(o, names) for o in outcomes]
        return self._summary(reader, back, outcomes=named, done=done)

    def _close_step(
        self,
        reader: Reader,
        back: str,
        form: FormData,
        numbers: list[int],
        offered: list[staff_bulk.Offered],
        *,
        again: bool,
    ) -> Response:
        """The close's own step: the ticked cases, the saved replies of their categories and the
        note, sent as the list's form was (its id kept: sent twice, it acts once)."""
        return page(
            "bulk.html",
            language=reader.language,
            status_code=400 if again else 200,
            problem="web.b_no_reason" if again else "",
            offered=offered,
            numbers=numbers,
            form_id=_text(form, "form"),
            reason=_text(form, "reason")[:MAX_REASON],
            back=back,
            reader=reader,
            viewer=reader.viewer,
            csrf=reader.csrf,
            here=back,
        )

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


def _named(outcome: staff_bulk.Outcome, names: dict[str, str]) -> staff_bulk.Outcome:
    """``outcome`` with the person its refusal names by id (``manager``) named."""
    refused = outcome.refusal
    person = refused.params.get("manager") if refused is not None else None
    if refused is None or not isinstance(person, str) or person not in names:
        return outcome
    params = {**refused.params, "manager": names[person]}
    return replace(outcome, refusal=ServiceRefusal(refused.reason, params))


def _why(outcome: staff_bulk.Outcome, reader: Reader) -> str:
    """A refused case's reason in the reader's words."""
    return said(outcome.refusal, reader.language) if outcome.refusal is not None else ""


def _request_of(form: FormData, *, replied: bool) -> tuple[lifecycle.Request | None, str]:
    """The use case's request the form asks for, or the problem that stops the whole form (a
    close needs a note, or a saved reply: ``replied``)."""
    action, reason = form.get("action"), form.get("reason")
    note = reason[:MAX_REASON] if isinstance(reason, str) else ""
    if action == Action.REASSIGN.value:
        manager = form.get("manager")
        if not isinstance(manager, str) or not manager.strip():
            return None, "web.b_no_manager"
        return lifecycle.Request(Action.REASSIGN, manager_id=manager.strip(), note=note), ""
    if action == Action.CLOSE.value:
        if not note.strip() and not replied:
            return None, "web.b_no_reason"
        return lifecycle.Request(Action.CLOSE, note=note), ""
    return None, ""


def _text(form: FormData, name: str) -> str:
    """A form's text field, or "" (a file or nothing)."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _number(value: object) -> int | None:
    return case_number(value) if isinstance(value, str) else None


def _back(form: FormData) -> str:
    """The list the form was sent from, with its filters (never a page elsewhere)."""
    target = form.get("next")
    url = target if isinstance(target, str) else HOME
    if (url != HOME and not url.startswith(HOME + "?")) or "\\" in url:
        return HOME
    return url
