"""The hot path's rows: models built untracked and turned into Core parameters, and the
statements per dialect kept once (executing a built statement skips building and keying it)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar, cast

from sqlalchemy import Table
from sqlmodel import SQLModel

from db.models import Case, CaseEvent, Identity, OutboxMessage, Person
from db.rows import detached

M = TypeVar("M", bound=SQLModel)


def values(row: SQLModel, *skip: str) -> dict[str, Any]:
    """A model's column values for a Core insert (its generated key left to the database)."""
    names = COLUMNS[type(row)]
    state = vars(row)  # the loaded attributes, read without pydantic's dump (a third of it)
    return {k: state.get(k) for k in names if k not in skip}


def make(model: type[M]) -> Callable[..., M]:
    """How the hot path builds a ``model`` row: untracked, its values only (``db/rows.py``)."""
    return partial(detached, model)


def table(model: type[SQLModel]) -> Table:
    """A model's table."""
    return cast(Table, model.__table__)  # type: ignore[attr-defined]


# Statements that differ by dialect, built on first use: (name, dialect) -> statement.
BY_DIALECT: dict[tuple[str, str], Any] = {}
COLUMNS: dict[type[SQLModel], tuple[str, ...]] = {
    m: tuple(table(m).columns.keys()) for m in (Person, Identity, Case, CaseEvent, OutboxMessage)
}
