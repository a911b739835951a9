"""Sex and province from the ID number, encrypted, for the fairness audit alone.

People enrolled before this revision get their row when the fairness report first runs (it
decrypts their ID number with the vault's secret; see `kaimen.scoring.fairness`).

Revision ID: 0024
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op

from kaimen.store.types import UTCDateTime

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fairness_traits",
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("traits_encrypted", sa.Text(), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.person_id"], name="fk_fairness_traits_person_id"
        ),
        sa.PrimaryKeyConstraint("person_id", name="pk_fairness_traits"),
    )


def downgrade() -> None:
    op.drop_table("fairness_traits")
