"""Pages from Jinja2 templates (autoescaped: every stored text is shown as text), with the
catalog's texts in the reader's language."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse

from core.texts import CATALOGS, render

TEMPLATES = Path(__file__).resolve().parent / "templates"

_ENV = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def texts_in(language: str) -> Any:
    """``t(key, **params)`` for templates: the catalog's text in ``language``."""

    def t(key: str, **params: Any) -> str:
        return render(language, key, **params)

    return t


def page(template: str, *, language: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    """``template`` rendered in ``language`` with ``values``."""
    body = _ENV.get_template(template).render(
        t=texts_in(language),
        has=CATALOGS[language].__contains__,  # a state the catalog names, else shown as it is
        lang=language,
        urlencode=urlencode,
        **values,
    )
    return HTMLResponse(body, status_code=status_code)


def message(key: str, *, language: str, status_code: int, **params: Any) -> HTMLResponse:
    """A page saying one thing (not found, the console is off, the link is used)."""
    return page(
        "message.html",
        language=language,
        status_code=status_code,
        text=render(language, key, **params),
    )
