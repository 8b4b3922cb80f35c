"""one case per problem: followers, a case's building, merged duplicates

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 13:00:00.000000

``case_follower`` holds the residents who follow a case instead of reporting it again (and, after
a merge, those the merged case brought, by ``via_case``). ``cases.building`` is the directory's
building a case's location names, and ``ix_cases_suggest`` finds the open cases a new report is
offered; ``cases.followers`` counts a case's followers for lists and cards. Existing cases get
their building from their location as the directory lists buildings now.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

from core.places import building_in

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN (a constant default): SQLite's batch mode would rebuild ``cases``, which
    # the events' and photos' foreign keys refuse.
    op.add_column(
        "cases",
        sa.Column(
            "building",
            sqlmodel.sql.sqltypes.AutoString(length=64),
            nullable=False,
            server_default="",
        ),
    )
    op.add_column("cases", sa.Column("followers", sa.Integer(), nullable=False, server_default="0"))
    op.create_index(
        "ix_cases_suggest",
        "cases",
        ["community_id", "category_id", "created_at", "building"],
        unique=False,
    )
    op.create_table(
        "case_follower",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_number", sa.Integer(), nullable=False),
        sa.Column("person_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("via_case", sa.Integer(), nullable=True),
        sa.Column("rating", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=True),
        sa.Column("since", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["case_number"], ["cases.number"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_number", "person_id"),
    )
    op.create_index(
        op.f("ix_case_follower_person_id"), "case_follower", ["person_id"], unique=False
    )
    _fill_buildings()


def _fill_buildings() -> None:
    """The building of each open case, from its location and its community's buildings."""
    bind = op.get_bind()
    communities = sa.table("community", sa.column("id"), sa.column("buildings", sa.JSON))
    cases = sa.table(
        "cases",
        sa.column("number"),
        sa.column("community_id"),
        sa.column("location"),
        sa.column("building"),
        sa.column("status"),
    )
    listed = {row.id: list(row.buildings or []) for row in bind.execute(sa.select(communities))}
    terminal = ("closed", "cancelled", "rejected")
    rows = bind.execute(
        sa.select(cases.c.number, cases.c.community_id, cases.c.location).where(
            cases.c.status.not_in(terminal), cases.c.location != ""
        )
    ).all()
    for number, community_id, location in rows:
        building = building_in(location, listed.get(community_id, []))
        if building:
            bind.execute(
                cases.update().where(cases.c.number == number).values(building=building)
            )


def downgrade() -> None:
    op.drop_index(op.f("ix_case_follower_person_id"), table_name="case_follower")
    op.drop_table("case_follower")
    op.drop_index("ix_cases_suggest", table_name="cases")
    # ALTER TABLE … DROP COLUMN, on SQLite (3.35+) too, without rebuilding the table.
    op.execute("ALTER TABLE cases DROP COLUMN followers")
    op.execute("ALTER TABLE cases DROP COLUMN building")
