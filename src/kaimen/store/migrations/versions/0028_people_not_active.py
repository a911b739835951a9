"""An index of the people no longer active.

The monthly publication leaves people who opted out after the month's scores were read out
of its score-change alerts; finding them scanned all of `people` (a quarter of a second at
a million). A partial index holds only them.

Revision ID: 0028
Revises: 0027
"""

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

_PREDICATE = "status <> 'active'"


def upgrade() -> None:
    op.create_index(
        "ix_people_not_active",
        "people",
        ["person_id"],
        unique=True,
        sqlite_where=sa.text(_PREDICATE),
        postgresql_where=sa.text(_PREDICATE),
    )


def downgrade() -> None:
    op.drop_index("ix_people_not_active", table_name="people")
