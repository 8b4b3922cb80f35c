"""the audit of requests about a person's data (exports and erasures)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 10:00:00.000000

``data_audit`` holds one row per export or erase of a person's data (``people export``,
``people erase``, the console, retention's anonymisation): when, which kind, who asked (a person
id and a channel), the person by an opaque id or a hash of their id, and counts of what was done —
never the data itself.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "data_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("person", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("actor_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("actor_channel", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_data_audit_at"), "data_audit", ["at"], unique=False)
    op.create_index(op.f("ix_data_audit_person"), "data_audit", ["person"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_data_audit_person"), table_name="data_audit")
    op.drop_index(op.f("ix_data_audit_at"), table_name="data_audit")
    op.drop_table("data_audit")
