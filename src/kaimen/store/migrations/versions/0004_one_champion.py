"""At most one champion model across kinds, enforced by a partial unique index.

Before this revision each kind could have its own champion. Should a store hold several, the
one trained first stays champion (the first model ever trained is the champion until one is
promoted), and the others become challengers.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "UPDATE models SET champion = 0 WHERE champion = 1 AND version <> ("
        "SELECT version FROM models WHERE champion = 1 ORDER BY trained_at, version LIMIT 1)"
    )
    op.create_index(
        "uq_models_one_champion",
        "models",
        ["champion"],
        unique=True,
        sqlite_where=sa.text("champion = 1"),
        postgresql_where=sa.text("champion = 1"),
    )


def downgrade() -> None:
    op.drop_index("uq_models_one_champion", table_name="models")
