"""invite codes kept only as hashes; console sessions with an absolute end

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 10:00:00.000000

``invite.code`` (the deep link's code, in plain text, the table's key) becomes ``code_hash``, the
sha256 hex of the code: every existing row is hashed here, so a link sent before the upgrade
still binds its chat, and a copy of the database no longer does. ``console_session`` gets
``expires_at``, its absolute end; a session of the previous release, which had none, ends
twelve hours (the default of ``CONSOLE_SESSION_HOURS``) after it began.
"""

import hashlib
from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As the code had it when written (a migration does not follow later code).
SESSION_HOURS = 12

_INVITE = sa.table("invite", sa.column("code", sa.String), sa.column("code_hash", sa.String))
_SESSION = sa.table(
    "console_session",
    sa.column("id_hash", sa.String),
    sa.column("created_at", sqlmodel.sql.sqltypes.UTCDateTime()),
    sa.column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime()),
)


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _drop_key(batch_op: object) -> None:
    """Drop the invite table's primary key: PostgreSQL named it ``invite_pkey``; SQLite's has no
    name, and goes with its column when the batch copies the table."""
    if op.get_bind().dialect.name != "sqlite":
        batch_op.drop_constraint("invite_pkey", type_="primary")  # type: ignore[attr-defined]


def upgrade() -> None:
    # The hash is written in a new column first, then takes the key's place: on SQLite the batch
    # copies the table, on PostgreSQL the key's constraint moves to the new column.
    with op.batch_alter_table("invite", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("code_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
    conn = op.get_bind()
    for (code,) in conn.execute(sa.select(_INVITE.c.code)).all():
        conn.execute(_INVITE.update().where(_INVITE.c.code == code).values(code_hash=_sha256(code)))
    with op.batch_alter_table("invite", schema=None) as batch_op:
        _drop_key(batch_op)
        batch_op.drop_column("code")
        batch_op.alter_column(
            "code_hash",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=64),
            nullable=False,
        )
        batch_op.create_primary_key("invite_pkey", ["code_hash"])

    with op.batch_alter_table("console_session", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
    lifetime = timedelta(hours=SESSION_HOURS)
    for id_hash, created_at in conn.execute(
        sa.select(_SESSION.c.id_hash, _SESSION.c.created_at)
    ).all():
        conn.execute(
            _SESSION.update()
            .where(_SESSION.c.id_hash == id_hash)
            .values(expires_at=created_at + lifetime)
        )
    with op.batch_alter_table("console_session", schema=None) as batch_op:
        batch_op.alter_column(
            "expires_at", existing_type=sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False
        )


def downgrade() -> None:
    # A hash cannot be turned back into its code: the invites not used yet cannot be kept.
    with op.batch_alter_table("console_session", schema=None) as batch_op:
        batch_op.drop_column("expires_at")
    op.execute("DELETE FROM invite")
    with op.batch_alter_table("invite", schema=None) as batch_op:
        _drop_key(batch_op)
        batch_op.drop_column("code_hash")
        batch_op.add_column(
            sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False)
        )
        batch_op.create_primary_key("invite_pkey", ["code"])
