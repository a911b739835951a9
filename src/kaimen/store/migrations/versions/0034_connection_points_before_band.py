"""What a person's friends would have added before the band rule, kept with each snapshot.

`connection_points` kept only what friends added once cut to the band the score was in. A
what-if moves the card's score, possibly into another band, where a different cut applies:
without the points before the cut it had to work them out again from every lake file's
friend links, on every request and every move of the page's sliders. Now the publication
and the re-score store them beside what was added. Rows published before this revision have
none (null): for those the what-if works them out as before.

Revision ID: 0034
Revises: 0033
"""

import sqlalchemy as sa
from alembic import op

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "connection_points", sa.Column("points_before_band", sa.SmallInteger(), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("connection_points") as table:
        table.drop_column("points_before_band")
