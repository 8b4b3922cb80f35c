"""channel identities, outbox replies, early delivery reports

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 17:30:00.000000

A person's Telegram chat and phone move from ``person`` into ``channel_identity`` (one row per
person and channel), keeping every binding and whether the chat was reachable; opt-outs
(``opt_out``) and languages (``person.language``) are untouched. Where two people held one phone,
the directory's person keeps it (as the old lookup did).
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op


revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_IDENTITY = sa.table(
    "channel_identity",
    sa.column("person_id", sa.String),
    sa.column("channel", sa.String),
    sa.column("address", sa.String),
    sa.column("reachable", sa.Boolean),
    sa.column("preferred", sa.Boolean),
    sa.column("source", sa.String),
    sa.column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime()),
)


def upgrade() -> None:
    op.create_table(
        "channel_identity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("reachable", sa.Boolean(), nullable=False),
        sa.Column("preferred", sa.Boolean(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel", "address", name="uq_identity_address"),
        sa.UniqueConstraint("person_id", "channel", name="uq_identity_person_channel"),
    )
    op.create_index(
        op.f("ix_channel_identity_person_id"), "channel_identity", ["person_id"], unique=False
    )
    _move_bindings()
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_index("ix_person_phone")
        batch_op.drop_column("phone")
        batch_op.drop_column("telegram_id")
        batch_op.drop_column("telegram_unreachable")

    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("reply_to", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True)
        )
        batch_op.create_index(batch_op.f("ix_outbox_reply_to"), ["reply_to"], unique=False)
    # The TwiML answers of the previous release named their inbound in provider_message_id.
    op.execute(
        "UPDATE outbox SET reply_to = 'sms:' || substr(provider_message_id, 7) "
        "WHERE provider_message_id LIKE 'twiml:%'"
    )

    op.create_table(
        "delivery_report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "provider_message_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False
        ),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("opted_out", sa.Boolean(), nullable=False),
        sa.Column("received_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_delivery_report_provider_message_id"),
        "delivery_report",
        ["provider_message_id"],
        unique=False,
    )


def _move_bindings() -> None:
    """Copy each person's Telegram id and phone into identity rows (directory people first)."""
    rows = op.get_bind().execute(
        sa.text(
            "SELECT id, phone, telegram_id, telegram_unreachable, source FROM person "
            "ORDER BY CASE WHEN source = 'directory' THEN 0 ELSE 1 END, id"
        )
    )
    now = datetime.now(UTC)
    taken: set[tuple[str, str]] = set()
    identities = []
    for person_id, phone, telegram_id, unreachable, source in rows:
        for channel, address, reachable in (
            ("telegram", None if telegram_id is None else str(telegram_id), not unreachable),
            ("sms", phone, True),
        ):
            if not address or (channel, address) in taken:
                continue
            taken.add((channel, address))
            identities.append(
                {
                    "person_id": person_id,
                    "channel": channel,
                    "address": address,
                    "reachable": bool(reachable),
                    "preferred": False,
                    "source": source if source in ("directory", "telegram", "sms") else "directory",
                    "updated_at": now,
                }
            )
    if identities:
        op.bulk_insert(_IDENTITY, identities)


def downgrade() -> None:
    op.drop_index(op.f("ix_delivery_report_provider_message_id"), table_name="delivery_report")
    op.drop_table("delivery_report")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_reply_to"))
        batch_op.drop_column("reply_to")
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.add_column(sa.Column("telegram_unreachable", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("telegram_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(
            sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True)
        )
        batch_op.create_index("ix_person_phone", ["phone"], unique=False)
    op.drop_index(op.f("ix_channel_identity_person_id"), table_name="channel_identity")
    op.drop_table("channel_identity")
