"""A flag on access-log rows: a decision flagged as possible probing of the score, or an
attempt that was refused (and why) but that the person should still see.

Revision ID: 0022
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("access_log", sa.Column("flag", sa.String(40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("access_log") as table:
        table.drop_column("flag")
