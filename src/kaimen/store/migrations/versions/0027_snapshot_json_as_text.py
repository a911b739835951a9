"""Snapshots' reasons and points as text on PostgreSQL.

A `json` column makes the server parse every value written to it. The monthly batch writes
two such values for every person every month (a million people's COPY spent about a third
of its time there), and the store only ever hands them back whole, to code that decodes
them (`types.JSONText`). SQLite keeps JSON as text already: nothing changes there.

Revision ID: 0027
Revises: 0026
"""

from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

_COLUMNS = ("reasons", "points")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    changes = ", ".join(f"ALTER COLUMN {c} TYPE text USING {c}::text" for c in _COLUMNS)
    op.execute(f"ALTER TABLE score_snapshots {changes}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    changes = ", ".join(f"ALTER COLUMN {c} TYPE json USING {c}::json" for c in _COLUMNS)
    op.execute(f"ALTER TABLE score_snapshots {changes}")
