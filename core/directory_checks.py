"""Checking a parsed directory: pydantic's errors in plain words, then references between entries.

``validate_directory`` returns the frozen ``Directory`` or every problem found, each with the path
of the field it concerns (``bot.directory_file`` turns paths into file lines).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from difflib import get_close_matches
from typing import get_args

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from core.directory import (
    ANY,
    BUILTIN_CATEGORY,
    REPLY_ACTIONS,
    Directory,
    DirectoryProblem,
    Path,
    Replies,
    needs_quotes,
)


def validate_directory(data: object) -> Directory | list[DirectoryProblem]:
    """Validate parsed YAML: the Directory, or every problem found (fields, then references)."""
    try:
        directory = Directory.model_validate(data)
    except ValidationError as exc:
        # references are checked once every entry is well-formed, so none is reported twice
        return [_from_pydantic(error) for error in exc.errors()]
    return list(_cross_references(directory)) or directory


_KINDS = {  # pydantic error type -> what we say, followed by ", got <value>"
    "string_type": "expected text",
    "int_type": "expected a whole number",
    "int_from_float": "expected a whole number",
    "bool_type": "expected true or false",
    "list_type": "expected a list",
    "model_type": "expected a mapping (key: value)",
    "dict_type": "expected a mapping (key: value)",
}


def _from_pydantic(error: ErrorDetails) -> DirectoryProblem:
    path, kind, value, ctx = tuple(error["loc"]), error["type"], error["input"], error.get("ctx")
    got = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
    if kind == "value_error" and ctx and "error" in ctx:
        message = str(ctx["error"])  # our validators' (and PolicyError's) own words
    elif kind == "extra_forbidden":
        message = _unknown_key(path)
    elif kind == "missing":
        message = "required, but missing"
    elif kind == "literal_error" and ctx:
        message = f"expected {ctx['expected']}, got {got}"
    elif kind in _KINDS:
        message = f"{_KINDS[kind]}, got {got}{needs_quotes(value) if kind == 'string_type' else ''}"
    else:
        message = f"{error['msg'][:1].lower()}{error['msg'][1:]}, got {got}"
    return DirectoryProblem(path, message)


def _unknown_key(path: Path) -> str:
    model = _model_at(path[:-1])
    # under ``replies`` the keys are actions: say so, the maintainer is naming one
    message = f"unknown {'action' if model is Replies else 'key'} {str(path[-1])!r}"
    if model is None:
        return message
    close = get_close_matches(str(path[-1]), list(model.model_fields), n=1)
    if close:
        return f"{message}; did you mean {close[0]!r}?"
    return f"{message}; allowed: {', '.join(model.model_fields)}"


def _model_at(path: Path) -> type[BaseModel] | None:
    """The model that validates the mapping at ``path``, found from the field annotations."""
    model: type[BaseModel] | None = Directory
    for part in path:
        if isinstance(part, str):  # list indexes add nothing: list[X] already names X
            field = model.model_fields.get(part) if model else None
            model = _model_in(field.annotation) if field else None
    return model


def _model_in(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    found = (_model_in(arg) for arg in get_args(annotation))
    return next((model for model in found if model is not None), None)


def _duplicates(values: Iterable[tuple[Path, object]], what: str) -> Iterator[DirectoryProblem]:
    first: dict[object, Path] = {}
    for path, value in values:
        if value is not None and value in first:
            where = DirectoryProblem(first[value], "").field
            yield DirectoryProblem(path, f"duplicate {what} {value!r}, already used by {where}")
        elif value is not None:
            first[value] = path


_UNIQUE = (  # (section, key) pairs where no two entries may share a value
    ("people", "id"),
    ("communities", "id"),
    ("categories", "id"),
    ("people", "telegram_id"),
    ("people", "phone"),
    ("communities", "sms_number"),
)


def _cross_references(d: Directory) -> Iterator[DirectoryProblem]:
    """Duplicates and references between entries that are each well-formed."""
    people = {p.id: p for p in reversed(d.people)}  # reversed: the first occurrence wins
    communities = {c.id for c in d.communities}
    categories = {c.id for c in d.categories} | {BUILTIN_CATEGORY}

    for section, key in _UNIQUE:
        entries = getattr(d, section)
        yield from _duplicates(
            (((section, i, key), getattr(e, key)) for i, e in enumerate(entries)), key
        )
    # No two people share an account on one channel: a message there would reach one of them.
    for channel in sorted({c for p in d.people for c in p.addresses}):
        accounts = (
            (("people", i, "addresses", channel), p.addresses.get(channel))
            for i, p in enumerate(d.people)
        )
        yield from _duplicates(accounts, "account")

    def person(path: Path, ref: str, *roles: str) -> Iterator[DirectoryProblem]:
        found = people.get(ref)
        if found is None:
            yield DirectoryProblem(path, f"no person with id {ref!r}")
        elif found.role not in roles:
            wanted = " or ".join(roles)
            yield DirectoryProblem(path, f"{ref!r} has role {found.role}, expected {wanted}")

    def exists(path: Path, ref: str, ids: set[str], what: str) -> Iterator[DirectoryProblem]:
        if ref != ANY and ref not in ids:
            yield DirectoryProblem(path, f"no {what} with id {ref!r}")

    for i, p in enumerate(d.people):
        if p.supervisor == p.id:
            yield DirectoryProblem(("people", i, "supervisor"), "cannot be their own supervisor")
        elif p.supervisor is not None:
            yield from person(("people", i, "supervisor"), p.supervisor, "supervisor")
        if p.community is not None:
            yield from exists(("people", i, "community"), p.community, communities, "community")
    for i, category in enumerate(d.categories):
        for action in REPLY_ACTIONS:  # the same reply twice offers one choice as two
            replies = enumerate(getattr(category.replies, action))
            where = ("categories", i, "replies", action)
            yield from _duplicates((((*where, j, "zh"), r.zh) for j, r in replies), "reply")
    for i, c in enumerate(d.communities):
        for j, staff in enumerate(c.staff):
            yield from person(("communities", i, "staff", j), staff, "staff")
    for i, r in enumerate(d.routing):
        yield from exists(("routing", i, "community"), r.community, communities, "community")
        yield from exists(("routing", i, "category"), r.category, categories, "category")
        yield from person(("routing", i, "manager"), r.manager, "manager", "supervisor")
