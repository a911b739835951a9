"""Score revisions: a published snapshot changed between monthly runs, with the cause.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

from kaimen.store.types import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "score_revisions",
        sa.Column("revision_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("revised_at", UTCDateTime(), nullable=False),
        sa.Column("score_before", sa.Integer(), nullable=True),
        sa.Column("band_before", sa.String(16), nullable=True),
        sa.Column("score_after", sa.Integer(), nullable=True),
        sa.Column("band_after", sa.String(16), nullable=True),
        sa.Column("cause", sa.String(32), nullable=False),
        sa.Column("cause_ref", sa.String(200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("revision_id", name="pk_score_revisions"),
    )
    op.create_index(
        "ix_score_revisions_person", "score_revisions", ["person_id", "revised_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_score_revisions_person", table_name="score_revisions")
    op.drop_table("score_revisions")
