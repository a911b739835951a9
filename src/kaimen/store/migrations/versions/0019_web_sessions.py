"""Web app sessions, held by the server: the browser's cookie carries only an opaque secret,
so signing out (or a revoked key, or leaving) ends a session everywhere at once.

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op

from kaimen.store.types import UTCDateTime

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("session_hash", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=True),
        sa.Column("partner_id", sa.String(64), nullable=True),
        sa.Column("key_id", sa.String(32), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.person_id"], name="fk_web_sessions_person_id"
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.partner_id"], name="fk_web_sessions_partner_id"
        ),
        sa.ForeignKeyConstraint(["key_id"], ["api_keys.key_id"], name="fk_web_sessions_key_id"),
        sa.CheckConstraint(
            "(kind = 'person' AND person_id IS NOT NULL AND partner_id IS NULL)"
            " OR (kind = 'partner' AND partner_id IS NOT NULL AND key_id IS NOT NULL"
            " AND person_id IS NULL)"
            " OR (kind = 'admin' AND person_id IS NULL AND partner_id IS NULL)",
            name="ck_web_sessions_kind",
        ),
        sa.PrimaryKeyConstraint("session_hash", name="pk_web_sessions"),
    )
    op.create_index("ix_web_sessions_person_id", "web_sessions", ["person_id"])
    op.create_index("ix_web_sessions_partner_id", "web_sessions", ["partner_id"])


def downgrade() -> None:
    op.drop_index("ix_web_sessions_partner_id", table_name="web_sessions")
    op.drop_index("ix_web_sessions_person_id", table_name="web_sessions")
    op.drop_table("web_sessions")
