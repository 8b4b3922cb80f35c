"""outbox: partial indexes for the claim (waiting rows in id order) and for a card's edits

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 18:20:00.000000

The dispatcher's claim reads the oldest waiting rows of a channel. On ``ix_outbox_due``
(status, next_attempt_at) it sorted every due row on each claim (850 ms at 141,000 pending);
``ix_outbox_waiting`` holds only the waiting rows, in (channel, id) order, so the claim reads
its batch and stops. ``ix_outbox_edits`` holds the edits of cards (the claim's newer-edit check,
a new edit superseding older ones), which were a scan of the whole outbox each.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As db/models.py has them when written (a migration does not follow later code).
WAITING = "status IN ('pending', 'sending', 'failed')"
EDITS = "edit_of IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbox_waiting",
            ["channel", "id"],
            unique=False,
            sqlite_where=sa.text(WAITING),
            postgresql_where=sa.text(WAITING),
        )
        batch_op.create_index(
            "ix_outbox_edits",
            ["edit_of"],
            unique=False,
            sqlite_where=sa.text(EDITS),
            postgresql_where=sa.text(EDITS),
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_edits")
        batch_op.drop_index("ix_outbox_waiting")
