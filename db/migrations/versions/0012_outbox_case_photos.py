"""outbox rows name the case photos they carry

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 13:40:00.000000

``outbox.photos`` lists the positions (``case_photo.position``) of the case's photos a message
carries: a case card sent as a photo with the card as its caption, or the album sent before it.
Rows written before carry none.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("photos", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("photos")
