"""Score snapshots without foreign keys: a month of them is published in bulk.

On PostgreSQL a foreign key is a trigger run for every row: each snapshot of a monthly
batch looked up its person and model and locked the person's row (FOR KEY SHARE), which was
four tenths of the time to publish a month. The batch takes its people from `people` and
its model from `models` itself, and people are never deleted (an opt-out erases what
refers to them but keeps the row), so the keys guarded nothing the batch can break. An
opt-out still erases a person's snapshots: `store.person_data` lists the table by name.

Revision ID: 0013
Revises: 0012
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

KEYS = (
    ("fk_score_snapshots_person_id", "people", "person_id"),
    ("fk_score_snapshots_model_version", "models", "version"),
)


def upgrade() -> None:
    with op.batch_alter_table("score_snapshots") as batch:
        for name, _, _ in KEYS:
            batch.drop_constraint(name, type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("score_snapshots") as batch:
        for name, parent, column in KEYS:
            local = "person_id" if parent == "people" else "model_version"
            batch.create_foreign_key(name, parent, [local], [column])
