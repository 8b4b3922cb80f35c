"""the cases' text search: an index the database keeps over description and location

Revision ID: 0021
Revises: 0019
Create Date: 2026-12-07 18:00:00.000000

SQLite: an FTS5 trigram table over the two texts (external content, through a view that pads
them), its vocabulary, and the triggers that keep it on every insert, update of a text and
delete; filled for the cases already stored. PostgreSQL: a GIN index on each text's characters
and character pairs (``db/search.py`` says why not pg_trgm). Nothing of ours writes it: every
writer, whatever its path, keeps it right.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0021"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Two padding characters after each text make every character start a trigram, so a 1–2
# character query is a prefix of an indexed one (db/search.py asks the vocabulary for it).
SQLITE_CREATE = (
    "CREATE VIEW case_search_source AS SELECT number, "
    "description || char(31, 31) AS description, location || char(31, 31) AS location FROM cases",
    "CREATE VIRTUAL TABLE case_search USING fts5(description, location, "
    "content='case_search_source', content_rowid='number', tokenize='trigram')",
    "CREATE VIRTUAL TABLE case_search_terms USING fts5vocab(case_search, instance)",
    # The external-content triggers of the FTS5 documentation, with the view's padding.
    "CREATE TRIGGER case_search_insert AFTER INSERT ON cases BEGIN "
    "INSERT INTO case_search(rowid, description, location) VALUES "
    "(new.number, new.description || char(31, 31), new.location || char(31, 31)); END",
    "CREATE TRIGGER case_search_delete AFTER DELETE ON cases BEGIN "
    "INSERT INTO case_search(case_search, rowid, description, location) VALUES "
    "('delete', old.number, old.description || char(31, 31), old.location || char(31, 31));"
    " END",
    # Only a change of the texts (or the number) touches the index: status changes do not.
    "CREATE TRIGGER case_search_update AFTER UPDATE OF number, description, location ON cases "
    "BEGIN "
    "INSERT INTO case_search(case_search, rowid, description, location) VALUES "
    "('delete', old.number, old.description || char(31, 31), old.location || char(31, 31)); "
    "INSERT INTO case_search(rowid, description, location) VALUES "
    "(new.number, new.description || char(31, 31), new.location || char(31, 31)); END",
    "INSERT INTO case_search(case_search) VALUES ('rebuild')",  # the cases already stored
)
SQLITE_DROP = (
    "DROP TRIGGER IF EXISTS case_search_update",
    "DROP TRIGGER IF EXISTS case_search_delete",
    "DROP TRIGGER IF EXISTS case_search_insert",
    "DROP TABLE IF EXISTS case_search_terms",
    "DROP TABLE IF EXISTS case_search",
    "DROP VIEW IF EXISTS case_search_source",
)
# pg_trgm would need an extension (one schema per database, created by a privileged role) and
# cannot answer a 1–2 character query at all (``LIKE '%快递%'`` has no trigram: a full scan);
# characters and pairs answer every length from one index (BENCHMARKS.md, "Text search").
POSTGRES_CREATE = (
    "CREATE FUNCTION case_search_grams(t text) RETURNS text[] LANGUAGE sql IMMUTABLE STRICT "
    "PARALLEL SAFE AS $$ SELECT coalesce(array_agg(DISTINCT substr(t, i, n)), '{}') "
    "FROM generate_series(1, length(t)) AS i, (VALUES (1), (2)) AS g(n) "
    "WHERE i + n - 1 <= length(t) $$",
    "CREATE INDEX ix_cases_search_description ON cases USING gin (case_search_grams(description))",
    "CREATE INDEX ix_cases_search_location ON cases USING gin (case_search_grams(location))",
)
POSTGRES_DROP = (
    "DROP INDEX IF EXISTS ix_cases_search_location",
    "DROP INDEX IF EXISTS ix_cases_search_description",
    "DROP FUNCTION IF EXISTS case_search_grams(text)",
)


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in POSTGRES_CREATE if postgres else SQLITE_CREATE:
        op.execute(statement)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in POSTGRES_DROP if postgres else SQLITE_DROP:
        op.execute(statement)
