"""the rates' rollup holds every case's share, the open ones' too; cases by status and resolve deadline

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-08 23:00:00.000000

Until now ``rate_rollup`` and ``rate_rollup_span`` held the ended cases only, and the rates read
every open case of a period one by one. From here on they hold every case that is not a merged
duplicate, at its share once all its deadlines have passed (``core.rates.settled``), and the rates
take back only the shares whose deadline is still ahead (``db.aggregates.rate_counts``), found on
the status index by acknowledge deadline and on the new one by resolve deadline.

The rollup is built anew here rather than topped up with the open cases: 0022 builds the day rows
with the live ``db.aggregates.rebuild``, which now counts the open cases already. The SQL is written
out so that a later change of the models does not change what this step did. The downgrade builds
the ended cases' rollup of 0024 again.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
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
# A case's counts once every deadline has passed (core/rates.py compute_rates at the end of
# time), in COUNTS' order. Cancelled and rejected cases are not the manager's: in no rate but the
# response base of a cancellation after the acknowledge deadline passed unanswered.
_MANAGERS = "status NOT IN ('cancelled', 'rejected')"
_SETTLED = (
    "COUNT(*)",
    f"{_MANAGERS} AND acknowledged_at IS NOT NULL AND acknowledged_at <= ack_due_at",
    f"{_MANAGERS} OR (status = 'cancelled' AND acknowledged_at IS NULL"
    " AND closed_at IS NOT NULL AND closed_at > ack_due_at)",
    f"{_MANAGERS} AND resolved_at IS NOT NULL AND COALESCE(rating, '') != 'dissatisfied'",
    _MANAGERS,
    f"{_MANAGERS} AND rating = 'satisfied'",
    f"{_MANAGERS} AND rating = 'basically_satisfied'",
    f"{_MANAGERS} AND rating = 'dissatisfied'",
)


def _rebuild(where: str) -> None:
    """Empty both tiers, then fill the day rows from the cases meeting ``where`` and the month
    and year rows from them (a year is its months summed)."""
    postgres = op.get_bind().dialect.name == "postgresql"
    day = "CAST(timezone('UTC', created_at) AS DATE)" if postgres else "date(created_at)"
    sums = ", ".join(
        count if count == "COUNT(*)" else f"COALESCE(SUM(CASE WHEN {count} THEN 1 ELSE 0 END), 0)"
        for count in _SETTLED
    )
    names = ", ".join(COUNTS)
    op.execute("DELETE FROM rate_rollup_span")
    op.execute("DELETE FROM rate_rollup")
    op.execute(
        f"INSERT INTO rate_rollup (day, community_id, manager_key, {names}) "
        f"SELECT {day}, community_id, COALESCE(NULLIF(manager_id, ''), '-'), {sums} FROM cases "
        f"WHERE duplicate_of IS NULL AND {where} GROUP BY 1, 2, 3"
    )
    for span, source, rows in (
        ("month", "rate_rollup", "cases > 0"),
        ("year", "rate_rollup_span", "span = 'month'"),
    ):
        if postgres:
            start = f"CAST(date_trunc('{span}', CAST(day AS TIMESTAMP)) AS DATE)"
        else:  # SQLite keeps ISO dates as text
            start = f"date(day, 'start of {span}')"
        total = ", ".join(f"SUM({name})" for name in COUNTS)
        op.execute(
            f"INSERT INTO rate_rollup_span (span, day, community_id, manager_key, {names}) "
            f"SELECT '{span}', {start}, community_id, manager_key, {total} FROM {source} "
            f"WHERE {rows} GROUP BY 2, 3, 4"
        )


def upgrade() -> None:
    op.create_index(
        "ix_cases_status_resolve_due_at", "cases", ["status", "resolve_due_at"], unique=False
    )
    _rebuild("1 = 1")


def downgrade() -> None:
    _rebuild("status IN ('closed', 'cancelled', 'rejected')")
    op.drop_index("ix_cases_status_resolve_due_at", table_name="cases")
