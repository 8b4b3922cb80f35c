"""the rates' rollup: the settled counts of the ended cases per community, holder and UTC day

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 17:10:00.000000

Built from the cases already stored (``db.aggregates.rebuild``); from here on every flush that ends,
brings back, merges or moves a case keeps it (``db.models.rollup``). The index on status and
acknowledge deadline finds the few ended cases whose share still waits on the clock; the one on status and
creation time, the open cases of a period.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

from db.aggregates import rebuild

revision: str = "0022"
down_revision: str | None = "0021"
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


def upgrade() -> None:
    op.create_table(
        "rate_rollup",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("community_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("manager_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in COUNTS),
        sa.PrimaryKeyConstraint("day", "community_id", "manager_key"),
    )
    op.create_index(
        "ix_rate_rollup_community_day", "rate_rollup", ["community_id", "day"], unique=False
    )
    op.create_index(
        "ix_cases_status_ack_due_at", "cases", ["status", "ack_due_at"], unique=False
    )
    op.create_index(
        "ix_cases_status_created_at", "cases", ["status", "created_at"], unique=False
    )
    rebuild(op.get_bind())


def downgrade() -> None:
    op.drop_index("ix_cases_status_created_at", table_name="cases")
    op.drop_index("ix_cases_status_ack_due_at", table_name="cases")
    op.drop_index("ix_rate_rollup_community_day", table_name="rate_rollup")
    op.drop_table("rate_rollup")
