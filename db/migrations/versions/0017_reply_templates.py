"""reply templates: a category's replies by action

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-08 10:00:00.000000

``category.replies`` holds the directory file's ``replies`` of a category: for each of
``resolve``, ``close`` and ``reject`` that has some, a list of ``{zh, en}`` texts staff and
managers may send to the resident. Existing categories have none until the file is loaded again.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN with a constant default: existing rows read as "no replies".
    op.add_column(
        "category",
        sa.Column("replies", sa.JSON(), nullable=False, server_default=sa.text("'{}'")),
    )


def downgrade() -> None:
    # ALTER TABLE … DROP COLUMN, on SQLite (3.35+) too, without rebuilding the table.
    op.execute("ALTER TABLE category DROP COLUMN replies")
