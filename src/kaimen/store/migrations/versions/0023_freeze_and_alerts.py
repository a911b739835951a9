"""A person's freeze and their inbox of alerts.

`people.frozen_at` is set while the person has frozen their file. `alerts` holds what the
person is told about: an inquiry, a score change of 20 points or more, a new negative item, a
court-list match and an attempt on a frozen file, one row per cause.

Revision ID: 0023
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op

from kaimen.store.types import UTCDateTime

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("people", sa.Column("frozen_at", UTCDateTime(), nullable=True))
    op.create_table(
        "alerts",
        sa.Column("alert_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("ref", sa.String(200), nullable=False),
        sa.Column("raised_at", UTCDateTime(), nullable=False),
        sa.Column("read_at", UTCDateTime(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('inquiry', 'score_change', 'negative_item', 'court_list_match',"
            " 'frozen_attempt')",
            name="ck_alerts_kind",
        ),
        sa.ForeignKeyConstraint(["person_id"], ["people.person_id"], name="fk_alerts_person_id"),
        sa.PrimaryKeyConstraint("alert_id", name="pk_alerts"),
        sa.UniqueConstraint("person_id", "kind", "ref", name="uq_alerts_one_per_cause"),
    )
    op.create_index("ix_alerts_person_id", "alerts", ["person_id"])


def downgrade() -> None:
    op.drop_index("ix_alerts_person_id", table_name="alerts")
    op.drop_table("alerts")
    # A plain DROP COLUMN (SQLite 3.35 and later): rebuilding `people` in a batch would drop
    # a table every other table's foreign keys point at.
    op.drop_column("people", "frozen_at")
