"""case photos in their own table

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 14:00:00.000000

A case's photos move from the JSON list ``cases.photos`` (Telegram file ids) to ``case_photo``,
one row each, which can also hold a fetched image's bytes (MMS media, an Open311 ``media_url``).
Every file id keeps its case and its order.
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op


revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PHOTO = sa.table(
    "case_photo",
    sa.column("case_number", sa.Integer),
    sa.column("position", sa.Integer),
    sa.column("source", sa.String),
    sa.column("file_id", sa.String),
    sa.column("content_type", sa.String),
    sa.column("created_at", sqlmodel.sql.sqltypes.UTCDateTime()),
)
_CASES = sa.table(
    "cases",
    sa.column("number", sa.Integer),
    sa.column("photos", sa.JSON),
    sa.column("created_at", sqlmodel.sql.sqltypes.UTCDateTime()),
)


def upgrade() -> None:
    op.create_table(
        "case_photo",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_number", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("file_id", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=True),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("content_type", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("size", sa.Integer(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["case_number"], ["cases.number"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_number", "position"),
    )
    op.create_index("ix_case_photo_case_number", "case_photo", ["case_number"], unique=False)
    bind = op.get_bind()
    rows = bind.execute(sa.select(_CASES.c.number, _CASES.c.photos, _CASES.c.created_at))
    photos = [
        {
            "case_number": number,
            "position": position,
            "source": "telegram",  # only the Telegram flow took photos before
            "file_id": str(file_id)[:256],
            "content_type": "image/jpeg",
            "created_at": created_at or datetime.now(UTC),
        }
        for number, file_ids, created_at in rows
        for position, file_id in enumerate(file_ids or [])
    ]
    if photos:
        op.bulk_insert(_PHOTO, photos)
    # A plain DROP COLUMN (SQLite ≥ 3.35): a batch copy of ``cases`` would trip the foreign keys
    # of every event and photo that points at it.
    op.drop_column("cases", "photos")


def downgrade() -> None:
    op.add_column("cases", sa.Column("photos", sa.JSON(), nullable=False, server_default="[]"))
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT case_number, file_id FROM case_photo WHERE file_id IS NOT NULL"
            " ORDER BY case_number, position"
        )
    )
    kept: dict[int, list[str]] = {}
    for number, file_id in rows:
        kept.setdefault(number, []).append(file_id)
    for number, file_ids in kept.items():
        bind.execute(
            sa.update(_CASES).where(_CASES.c.number == number).values(photos=file_ids)
        )
    op.drop_index("ix_case_photo_case_number", table_name="case_photo")
    op.drop_table("case_photo")
