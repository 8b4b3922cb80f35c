"""the rates' rollup by calendar month and year; one community's open cases by one seek

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-08 10:30:00.000000

``rate_rollup_span`` holds the day rows of ``rate_rollup`` summed per UTC month and year (``span``
and its first ``day``), so a long period reads a few rows (``db.rollup``); from here on every flush
that moves a case's share keeps it with the day rows (``db.models.rollup``). It is filled from the
day rows, not the cases: at ten million cases that is a few hundred thousand rows to group. The
index on community, status and creation time finds one community's open cases of a period.

The SQL is written out here rather than taken from ``db.aggregates``: a later change of the models
must not change what this step did (0022 builds the day rows with ``db.aggregates.rebuild``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTS = (
    "cases",
    "responded_in_time",
    "response_base",
    "resolved",
    "resolution_base",
    "satisfied",
    "basically_satisfied",
    "dissatisfied",
)


def _fill(span: str, source: str, where: str) -> str:
    """INSERT … SELECT of the ``span`` rows summed from the rows of ``source`` meeting ``where``."""
    if op.get_bind().dialect.name == "postgresql":
        start = f"CAST(date_trunc('{span}', CAST(day AS TIMESTAMP)) AS DATE)"
    else:  # SQLite keeps ISO dates as text
        start = f"date(day, 'start of {span}')"
    names = ", ".join(COUNTS)
    sums = ", ".join(f"SUM({name})" for name in COUNTS)
    return (
        f"INSERT INTO rate_rollup_span (span, day, community_id, manager_key, {names}) "
        f"SELECT '{span}', {start}, community_id, manager_key, {sums} FROM {source} "
        f"WHERE {where} GROUP BY 2, 3, 4"
    )


def upgrade() -> None:
    op.create_table(
        "rate_rollup_span",
        sa.Column("span", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("community_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("manager_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in COUNTS),
        sa.PrimaryKeyConstraint("span", "day", "community_id", "manager_key"),
    )
    op.create_index(
        "ix_rate_rollup_span_community",
        "rate_rollup_span",
        ["community_id", "span", "day"],
        unique=False,
    )
    op.create_index(
        "ix_cases_community_status_created_at",
        "cases",
        ["community_id", "status", "created_at"],
        unique=False,
    )
    # A row every case left holds zeros: no month of its own. A year is its months summed.
    op.execute(_fill("month", "rate_rollup", "cases > 0"))
    op.execute(_fill("year", "rate_rollup_span", "span = 'month'"))


def downgrade() -> None:
    op.drop_index("ix_cases_community_status_created_at", table_name="cases")
    op.drop_index("ix_rate_rollup_span_community", table_name="rate_rollup_span")
    op.drop_table("rate_rollup_span")
