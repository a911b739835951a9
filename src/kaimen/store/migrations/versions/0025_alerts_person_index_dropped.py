"""Alerts: the index on `person_id` alone goes; the unique (person_id, kind, ref) index,
which starts with the same column, answers the same lookups.

Every decision raises an inquiry alert, so each index on `alerts` is one more page written at
a random place per decision: on SQLite it was a sixth of the pages a batch of decisions
commits to the WAL (benchmarks/decisions_load.py).

Revision ID: 0025
Revises: 0024
"""

from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_alerts_person_id", table_name="alerts")


def downgrade() -> None:
    op.create_index("ix_alerts_person_id", "alerts", ["person_id"])
