"""provider state: shared access tokens, pull cursors and reply windows (issue 27)

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 18:40:00.000000

``provider_token`` holds an access token every instance reads and one renews (WeCom's); the
``inbound_cursor`` of a pulled message stream (WeChat customer service's ``sync_msg``) moves in
the transaction that records what a pull brought; ``reply_window`` is when a person last wrote
to a channel that may answer only for a while after it, and how much has gone since.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    text = sqlmodel.sql.sqltypes.AutoString
    at = sqlmodel.sql.sqltypes.UTCDateTime
    op.create_table(
        "provider_token",
        sa.Column("key", text(length=128), nullable=False),
        sa.Column("token", text(length=1024), nullable=False),
        sa.Column("expires_at", at(), nullable=True),
        sa.Column("lease_owner", text(length=64), nullable=True),
        sa.Column("lease_until", at(), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "inbound_cursor",
        sa.Column("source", text(length=128), nullable=False),
        sa.Column("cursor", text(length=256), nullable=False),
        sa.Column("updated_at", at(), nullable=False),
        sa.PrimaryKeyConstraint("source"),
    )
    op.create_table(
        "reply_window",
        sa.Column("channel", text(length=16), nullable=False),
        sa.Column("address", text(length=160), nullable=False),
        sa.Column("last_inbound_at", at(), nullable=False),
        sa.Column("sent_since", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("channel", "address"),
    )


def downgrade() -> None:
    op.drop_table("reply_window")
    op.drop_table("inbound_cursor")
    op.drop_table("provider_token")
