"""Connections, bounded: each person's two choices (their friends count for them; their score
counts for their friends), both off by default, and what friends added to each published
snapshot, so a score's base (before friends) is known to the friends' next month.

Revision ID: 0019
Revises: 0015 (the lead renumbers at merge: 0016-0018 are other branches')
"""

import sqlalchemy as sa
from alembic import op

from kaimen.store.types import UTCDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connection_choices",
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("counts_friends", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("counts_friends_at", UTCDateTime(), nullable=True),
        sa.Column("counts_friends_by", sa.String(128), nullable=True),
        sa.Column("lends_score", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("lends_score_at", UTCDateTime(), nullable=True),
        sa.Column("lends_score_by", sa.String(128), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.person_id"], name="fk_connection_choices_person_id"
        ),
        sa.PrimaryKeyConstraint("person_id", name="pk_connection_choices"),
    )
    op.create_table(
        "connection_points",
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("points", sa.SmallInteger(), nullable=False),
        sa.Column("friends_counted", sa.Integer(), nullable=False),
        sa.CheckConstraint("points BETWEEN -30 AND 30", name="ck_connection_points_points_range"),
        sa.CheckConstraint("friends_counted >= 0", name="ck_connection_points_friends_counted"),
        sa.UniqueConstraint("person_id", "month", "model_version", name="uq_connection_points_key"),
    )


def downgrade() -> None:
    op.drop_table("connection_points")
    op.drop_table("connection_choices")
