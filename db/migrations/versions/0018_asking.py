"""asking the reporter: the question that waits for their next message

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 16:00:00.000000

``cases.asked_by`` and ``cases.asked_at``: who asked the case's reporter a question from the
card or the console, and when, until their next message answers it (the question is the
``asked`` event's note). Existing cases wait for no answer.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN (nullable, no default): SQLite's batch mode would rebuild ``cases``,
    # which the events' and photos' foreign keys refuse.
    op.add_column(
        "cases",
        sa.Column("asked_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    )
    op.add_column("cases", sa.Column("asked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))


def downgrade() -> None:
    # ALTER TABLE … DROP COLUMN, on SQLite (3.35+) too, without rebuilding the table.
    op.execute("ALTER TABLE cases DROP COLUMN asked_at")
    op.execute("ALTER TABLE cases DROP COLUMN asked_by")
