"""a key's updates endpoint: Open311 updates pushed to the city that filed a request

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 17:00:00.000000

``open311_key.updates_url`` is the city's endpoint every step of the requests a key filed is
POSTed to, ``open311_key.updates_secret`` the HMAC key those POSTs are signed with. Existing keys
push nothing until made again with ``--updates-url``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "open311_key",
        sa.Column("updates_url", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
    )
    op.add_column(
        "open311_key",
        sa.Column("updates_secret", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    )


def downgrade() -> None:
    # ALTER TABLE … DROP COLUMN, on SQLite (3.35+) too, without rebuilding the table.
    op.execute("ALTER TABLE open311_key DROP COLUMN updates_secret")
    op.execute("ALTER TABLE open311_key DROP COLUMN updates_url")
