"""One-time sign-in codes for the web app, stored as hashes, single use and short-lived.

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

from kaimen.store.types import UTCDateTime

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sign_in_codes",
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.person_id"], name="fk_sign_in_codes_person_id"
        ),
        sa.PrimaryKeyConstraint("code_hash", name="pk_sign_in_codes"),
    )
    op.create_index("ix_sign_in_codes_person_id", "sign_in_codes", ["person_id"])


def downgrade() -> None:
    op.drop_index("ix_sign_in_codes_person_id", table_name="sign_in_codes")
    op.drop_table("sign_in_codes")
