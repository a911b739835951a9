"""Partners and API keys, consents, the access log, offers and decisions.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from kaimen.store.types import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "partners",
        sa.Column("partner_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("partner_id", name="pk_partners"),
    )
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("partner_id", sa.String(64), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("scopes", sa.String(100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.partner_id"], name="fk_api_keys_partner_id"
        ),
        sa.PrimaryKeyConstraint("key_id", name="pk_api_keys"),
    )
    op.create_index("ix_api_keys_partner_id", "api_keys", ["partner_id"])
    op.create_table(
        "consents",
        sa.Column("consent_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("partner_id", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("share_score", sa.Integer(), server_default="0", nullable=False),
        sa.Column("granted_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "purpose IN ('decision', 'report', 'feedback')", name="ck_consents_purpose"
        ),
        sa.CheckConstraint("share_score IN (0, 1)", name="ck_consents_share_score"),
        sa.ForeignKeyConstraint(["person_id"], ["people.person_id"], name="fk_consents_person_id"),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.partner_id"], name="fk_consents_partner_id"
        ),
        sa.PrimaryKeyConstraint("consent_id", name="pk_consents"),
    )
    op.create_index("ix_consents_person_id", "consents", ["person_id"])
    op.create_table(
        "access_log",
        sa.Column("access_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("accessed_at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.Column("purpose", sa.String(240), nullable=False),
        sa.Column("what", sa.String(16), nullable=False),
        sa.Column("disclosed", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.person_id"], name="fk_access_log_person_id"
        ),
        sa.PrimaryKeyConstraint("access_id", name="pk_access_log"),
    )
    op.create_index("ix_access_log_person_id", "access_log", ["person_id"])
    op.create_table(
        "offers",
        sa.Column("offer_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("partner_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("purpose", sa.String(200), nullable=False),
        sa.Column("min_score", sa.Integer(), nullable=False),
        sa.Column("min_band", sa.String(16), nullable=True),
        sa.Column("min_dimensions", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("withdrawn_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint("min_score BETWEEN 350 AND 950", name="ck_offers_min_score"),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.partner_id"], name="fk_offers_partner_id"
        ),
        sa.PrimaryKeyConstraint("offer_id", name="pk_offers"),
    )
    op.create_index("ix_offers_partner_id", "offers", ["partner_id"])
    op.create_table(
        "decisions",
        sa.Column("decision_id", sa.String(36), nullable=False),
        sa.Column("partner_id", sa.String(64), nullable=False),
        sa.Column("offer_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=False),
        sa.Column("month", sa.String(7), nullable=True),
        sa.Column("model_version", sa.String(64), nullable=True),
        sa.Column("approved", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("points_short", sa.Integer(), nullable=True),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("score_shared", sa.Integer(), nullable=False),
        sa.CheckConstraint("approved IN (0, 1)", name="ck_decisions_approved"),
        sa.CheckConstraint("score_shared IN (0, 1)", name="ck_decisions_score_shared"),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.partner_id"], name="fk_decisions_partner_id"
        ),
        sa.ForeignKeyConstraint(["offer_id"], ["offers.offer_id"], name="fk_decisions_offer_id"),
        sa.ForeignKeyConstraint(["person_id"], ["people.person_id"], name="fk_decisions_person_id"),
        sa.PrimaryKeyConstraint("decision_id", name="pk_decisions"),
    )
    op.create_index("ix_decisions_partner_id", "decisions", ["partner_id"])
    op.create_index("ix_decisions_person_id", "decisions", ["person_id"])


def downgrade() -> None:
    for table in ("decisions", "offers", "access_log", "consents", "api_keys", "partners"):
        op.drop_table(table)
