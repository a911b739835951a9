"""Settlement reconciliation: the courts' collection accounts, payment imports, payments
(payer name and ID number hashed and encrypted; never deleted) and the settlements that move a
court listing to settled-pending until it is lifted or the court objects.

Revision ID: 0012
Revises: 0011 (the court list, whose listings these tables point at)
"""

import sqlalchemy as sa
from alembic import op

from kaimen.store.types import UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "court_accounts",
        sa.Column("court", sa.String(200), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("registered_at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("court", name="pk_court_accounts"),
    )
    op.create_table(
        "payment_imports",
        sa.Column("import_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("name", sa.String(400), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("imported_at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("already_held", sa.Integer(), nullable=False),
        sa.Column("matched", sa.Integer(), nullable=False),
        sa.Column("review", sa.Integer(), nullable=False),
        sa.Column("unmatched", sa.Integer(), nullable=False),
        sa.CheckConstraint("channel IN ('file', 'api')", name="ck_payment_imports_channel"),
        sa.PrimaryKeyConstraint("import_id", name="pk_payment_imports"),
        sa.UniqueConstraint("sha256", name="uq_payment_imports_sha256"),
    )
    op.create_table(
        "payments",
        sa.Column("payment_id", sa.String(32), nullable=False),
        sa.Column("transaction_id", sa.String(128), nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("payer_name_hash", sa.String(64), nullable=True),
        sa.Column("payer_name_encrypted", sa.Text(), nullable=True),
        sa.Column("payer_id_hash", sa.String(64), nullable=True),
        sa.Column("payer_id_encrypted", sa.Text(), nullable=True),
        sa.Column("amount", sa.Numeric(18, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("destination_account", sa.String(64), nullable=False),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("listing_id", sa.String(32), nullable=True),
        sa.Column("match_score", sa.Numeric(5, 4), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=True),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("decided_by", sa.String(128), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "state IN ('matched', 'review', 'unmatched', 'rejected')", name="ck_payments_state"
        ),
        sa.CheckConstraint(
            "state <> 'matched' OR listing_id IS NOT NULL", name="ck_payments_matched_has_listing"
        ),
        sa.CheckConstraint("match_score BETWEEN 0 AND 1", name="ck_payments_score"),
        sa.CheckConstraint("amount > 0", name="ck_payments_amount"),
        sa.CheckConstraint(
            "(payer_name_hash IS NULL) = (payer_name_encrypted IS NULL)"
            " AND (payer_id_hash IS NULL) = (payer_id_encrypted IS NULL)",
            name="ck_payments_protected_together",
        ),
        sa.ForeignKeyConstraint(
            ["import_id"], ["payment_imports.import_id"], name="fk_payments_import_id"
        ),
        sa.ForeignKeyConstraint(
            ["listing_id"], ["court_listings.listing_id"], name="fk_payments_listing_id"
        ),
        sa.PrimaryKeyConstraint("payment_id", name="pk_payments"),
        sa.UniqueConstraint("transaction_id", name="uq_payments_transaction_id"),
    )
    op.create_index("ix_payments_payer_id_hash", "payments", ["payer_id_hash"])
    op.create_table(
        "listing_settlements",
        sa.Column("settlement_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("listing_id", sa.String(32), nullable=False),
        sa.Column("payment_id", sa.String(32), nullable=False),
        sa.Column("settled_at", UTCDateTime(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("lift_at", UTCDateTime(), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.Column("ended_by", sa.String(128), nullable=True),
        sa.Column("objection", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "state IN ('pending', 'lifted', 'objected')", name="ck_listing_settlements_state"
        ),
        sa.CheckConstraint(
            "(state = 'pending') = (ended_at IS NULL)",
            name="ck_listing_settlements_ended_unless_pending",
        ),
        sa.CheckConstraint(
            "(state = 'objected') = (objection IS NOT NULL)",
            name="ck_listing_settlements_objection",
        ),
        sa.ForeignKeyConstraint(
            ["listing_id"], ["court_listings.listing_id"], name="fk_listing_settlements_listing_id"
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.payment_id"], name="fk_listing_settlements_payment_id"
        ),
        sa.PrimaryKeyConstraint("settlement_id", name="pk_listing_settlements"),
    )
    op.create_index("ix_listing_settlements_listing_id", "listing_settlements", ["listing_id"])
    op.create_index("ix_listing_settlements_lift_at", "listing_settlements", ["lift_at"])
    op.create_index(
        "uq_listing_settlements_pending",
        "listing_settlements",
        ["listing_id"],
        unique=True,
        sqlite_where=sa.text("state = 'pending'"),
        postgresql_where=sa.text("state = 'pending'"),
    )


def downgrade() -> None:
    op.drop_table("listing_settlements")
    op.drop_table("payments")
    op.drop_table("payment_imports")
    op.drop_table("court_accounts")
