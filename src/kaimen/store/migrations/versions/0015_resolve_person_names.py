"""A person's name at enrolment: `identities` rows may be of kind `name` (optional, hashed
and encrypted like the phone and the ID number; see store/name_index.py for why its lookup
hash stays unique).

Revision ID: 0015
Revises: 0014
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

WITH_NAMES = "kind IN ('cn_resident_id', 'phone', 'name')"
WITHOUT_NAMES = "kind IN ('cn_resident_id', 'phone')"


def _kinds(condition: str) -> None:
    # SQLite cannot alter a check constraint: batch mode rebuilds the table around it.
    with op.batch_alter_table("identities") as batch:
        batch.drop_constraint("ck_identities_kind", type_="check")
        batch.create_check_constraint("ck_identities_kind", condition)


def upgrade() -> None:
    _kinds(WITH_NAMES)


def downgrade() -> None:
    # Names cannot be kept under the older rule: they go, the people stay.
    op.execute("DELETE FROM identities WHERE kind = 'name'")
    _kinds(WITHOUT_NAMES)
