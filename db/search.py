"""The cases' text search: the condition that asks the index the database keeps over description
and location (built by migration 0021: on SQLite an FTS5 trigram table kept by triggers, on
PostgreSQL GIN over each text's characters and character pairs), and that index's names.

The condition always ends with the plain ``LIKE`` of the two columns, so it finds exactly what the
scan finds; the index only narrows the rows the ``LIKE`` reads. Whatever it returns must be a
superset of the scan's matches, which is why each dialect's candidates are chosen the way below.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, cast, column, literal, or_, select, table
from sqlalchemy import func as sql
from sqlalchemy.dialects.postgresql import ARRAY, array
from sqlalchemy.types import Text
from sqlmodel import col

from db.models import Case

FTS = "case_search"  # SQLite: the FTS5 table (rowid = cases.number)
TERMS = "case_search_terms"  # SQLite: its fts5vocab table, one row per trigram occurrence
GRAMS = "case_search_grams"  # PostgreSQL: a text's characters and character pairs, as text[]
# The trigram tokenizer gives a text of n characters n-2 trigrams, none for a 1 or 2 character
# text, and a query of 1 or 2 characters can never be one of them. Two padding characters after
# each text make every character of it start a trigram, so a 1–2 character query is a prefix of
# some indexed trigram: a range of the vocabulary (migration 0021 pads them). A query holding
# U+001F may take a padded text for a candidate; the LIKE re-check decides every row.
# What Alembic's comparison with the models should not see: the index is no model's table.
SEARCH_TABLES = frozenset(
    {FTS, TERMS, f"{FTS}_data", f"{FTS}_idx", f"{FTS}_docsize", f"{FTS}_config"}
)
SEARCH_INDEXES = frozenset({"ix_cases_search_description", "ix_cases_search_location"})


def not_search(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic's ``include_name``: False for the index's own tables and indexes (no model
    describes them), True for everything else."""
    if type_ == "table":
        return name not in SEARCH_TABLES
    if type_ == "index":
        return name not in SEARCH_INDEXES
    return True


def like_pattern(text: str) -> str:
    """``text`` as a ``LIKE`` pattern matching it anywhere (escape ``\\``)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def like_scan(text: str) -> ColumnElement[bool]:
    """Cases whose description or location contains ``text``: the scan, what search means."""
    pattern = like_pattern(text)
    return or_(
        col(Case.description).like(pattern, escape="\\"),
        col(Case.location).like(pattern, escape="\\"),
    )


def matching(text: str, dialect: str) -> ColumnElement[bool]:
    """Exactly the cases ``like_scan(text)`` finds, asked through the index on ``dialect``."""
    candidates = _postgres(text) if dialect == "postgresql" else _sqlite(text)
    if candidates is None:
        return like_scan(text)
    return and_(candidates, like_scan(text))


def _postgres(text: str) -> ColumnElement[bool]:
    """Cases whose texts hold every character pair of ``text`` (its one character, if one)."""
    grams = sorted({text[i : i + 2] for i in range(max(1, len(text) - 1))})
    wanted = cast(array(grams), ARRAY(Text))
    return or_(
        getattr(sql, GRAMS)(col(Case.description)).op("@>")(wanted),
        getattr(sql, GRAMS)(col(Case.location)).op("@>")(wanted),
    )


def _sqlite(text: str) -> ColumnElement[bool] | None:
    """Cases whose texts hold ``text``'s trigrams in a row (a phrase); for 1–2 characters, cases
    with an indexed trigram starting with ``text``. None when the index cannot promise every
    match (a short query with a cased letter beyond ASCII: FTS5 folds it, its range would not)."""
    if len(text) >= 3:
        fts = table(FTS, column("rowid"), column(FTS))
        phrase = '"' + text.replace('"', '""') + '"'
        found = select(fts.c.rowid).where(fts.c[FTS].op("MATCH")(literal(phrase)))
        return col(Case.number).in_(found)
    if any(not c.isascii() and c.lower() != c.upper() for c in text):
        return None
    # The tokenizer folds ASCII to lower case, as LIKE ignores its case.
    low = text.lower()
    following = ord(low[-1]) + 1
    if following == 0xD800:  # no surrogates in UTF-8: the next character after them
        following = 0xE000
    if following > 0x10FFFF:
        return None
    terms = table(TERMS, column("term"), column("doc"))
    found = select(terms.c.doc).where(terms.c.term >= low, terms.c.term < low[:-1] + chr(following))
    return col(Case.number).in_(found)
