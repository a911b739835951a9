"""Retention: negative events past the profile's retention, from when they stop counting until
(and after) they are purged from the lake; where each profile's expiry search last looked.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

from kaimen.store.types import UTCDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "expired_items",
        sa.Column("item_kind", sa.String(16), nullable=False),
        sa.Column("item_ref", sa.String(200), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("conduct_ended", sa.Date(), nullable=False),
        sa.Column("expired_at", UTCDateTime(), nullable=False),
        sa.Column("purged_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint("item_kind IN ('event')", name="ck_expired_items_item_kind"),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.person_id"], name="fk_expired_items_person_id"
        ),
        sa.PrimaryKeyConstraint("item_kind", "item_ref", name="pk_expired_items"),
    )
    op.create_index("ix_expired_items_person_id", "expired_items", ["person_id"])
    op.create_index("ix_expired_items_purged_at", "expired_items", ["purged_at"])
    op.create_table(
        "retention_marks",
        sa.Column("profile", sa.String(32), nullable=False),
        sa.Column("cutoff", sa.Date(), nullable=False),
        sa.Column("last_file_id", sa.Integer(), nullable=False),
        sa.Column("searched_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("profile", name="pk_retention_marks"),
    )


def downgrade() -> None:
    op.drop_table("retention_marks")
    op.drop_table("expired_items")
