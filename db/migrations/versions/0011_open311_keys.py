"""open311 keys, their posts (the rate limit's window) and what an Open311 request came with

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 14:00:00.000000

``open311_key`` holds each client's key as its SHA-256 only, with the communities it may use;
``open311_post`` one row per POST (a sliding minute per key, shared by every process);
``open311_request`` the coordinates, address id, account id and media URL a request was filed with.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op


revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "open311_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("key_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("communities", sa.JSON(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("revoked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        sa.UniqueConstraint("key_hash"),
    )
    op.create_table(
        "open311_post",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_open311_post_key_at", "open311_post", ["key_id", "at"], unique=False)
    op.create_table(
        "open311_request",
        sa.Column("case_number", sa.Integer(), nullable=False),
        sa.Column("key_name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("long", sa.Float(), nullable=True),
        sa.Column("address_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("account_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("media_url", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.ForeignKeyConstraint(["case_number"], ["cases.number"]),
        sa.PrimaryKeyConstraint("case_number"),
    )


def downgrade() -> None:
    op.drop_table("open311_request")
    op.drop_index("ix_open311_post_key_at", table_name="open311_post")
    op.drop_table("open311_post")
    op.drop_table("open311_key")
