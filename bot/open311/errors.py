"""A refusal as GeoReport v2 answers it: an HTTP status and ``[{code, description}]`` (XML
``<errors><error>…``) in the format asked for, its description from the catalogs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.responses import Response

from core.texts import render as say

from .formats import render


@dataclass(slots=True)
class Problem(Exception):
    """Nothing was done: ``status`` 400, 403, 404 or 429, ``key`` the catalog text saying why."""

    status: int
    key: str
    params: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} {self.key} {self.params}"


def problem_response(fmt: str, language: str, problem: Problem) -> Response:
    """The error document for ``problem``; an unknown format answers in JSON."""
    description = say(language, problem.key, **problem.params)
    document = [{"code": problem.status, "description": description}]
    response = render(fmt if fmt == "xml" else "json", "errors", document, status=problem.status)
    response.headers.update(problem.headers)
    return response
