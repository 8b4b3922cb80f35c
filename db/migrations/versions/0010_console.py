"""console sign-in links, sessions, and the indexes of the console's case list

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 13:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op


revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "console_login",
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("person_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("used_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    with op.batch_alter_table("console_login", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_console_login_person_id"), ["person_id"], unique=False)
    op.create_table(
        "console_session",
        sa.Column("id_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("person_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("csrf", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("language", sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("seen_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id_hash"),
    )
    with op.batch_alter_table("console_session", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_console_session_person_id"), ["person_id"], unique=False
        )
    # The console lists a community's cases by status, newest first, and a manager's the cases
    # they acted on: both from an index, not a scan of 100,000 rows.
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index(
            "ix_cases_community_status_number", ["community_id", "status", "number"], unique=False
        )
    with op.batch_alter_table("case_event", schema=None) as batch_op:
        batch_op.create_index(
            "ix_case_event_actor_case", ["actor_id", "case_number"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("case_event", schema=None) as batch_op:
        batch_op.drop_index("ix_case_event_actor_case")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_community_status_number")
    with op.batch_alter_table("console_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_console_session_person_id"))
    op.drop_table("console_session")
    with op.batch_alter_table("console_login", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_console_login_person_id"))
    op.drop_table("console_login")
