"""A case page's forms answered where they are: sent by htmx, a refusal comes back as the catalog's
text for the form's own answer slot (with a fresh form id, since the refused one is spent) and a
change as a redirect to the page; sent without script, the same as whole pages. Each form names
its slot (``slot``: the action, "note", "merge", "likely-12" …)."""

from __future__ import annotations

import re
import secrets

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from .render import page

_SLOT = re.compile(r"[a-z][a-z0-9-]{0,23}")


def by_htmx(request: Request) -> bool:
    """True for a form htmx sent (it swaps the answer into the page)."""
    return request.headers.get("hx-request") == "true"


def slot_of(value: object) -> str:
    """The answer slot a form names, or "" for anything that is not a slot's name."""
    return value if isinstance(value, str) and _SLOT.fullmatch(value) else ""


def form_id() -> str:
    """A new id for a page's forms: each form adds its slot, so each acts once."""
    return secrets.token_urlsafe(12)


def refused_here(language: str, refusal: str, slot: str) -> Response:
    """The refusal for the slot of the form htmx sent: 200, since htmx swaps no error answer."""
    return page("_refusal.html", language=language, refusal=refusal, slot=slot, form_id=form_id())


def done(request: Request, url: str) -> Response:
    """After a change: the page at ``url`` (htmx is told to load it whole: everything moved)."""
    if by_htmx(request):
        return Response(status_code=200, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)
