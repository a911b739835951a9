"""Disputes, their evidence, item states, webhook endpoints and the outbox.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

from kaimen.store.types import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "disputes",
        sa.Column("dispute_id", sa.String(36), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("item_kind", sa.String(16), nullable=False),
        sa.Column("item_ref", sa.String(200), nullable=False),
        sa.Column("furnisher", sa.String(64), nullable=False),
        sa.Column("previous_dispute_id", sa.String(36), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column("profile", sa.String(32), nullable=False),
        sa.Column("item_occurred_at", UTCDateTime(), nullable=True),
        sa.Column("filed_at", UTCDateTime(), nullable=False),
        sa.Column("answer_due_at", UTCDateTime(), nullable=False),
        sa.Column("furnisher_notice_due_at", UTCDateTime(), nullable=False),
        sa.Column("furnisher_notified_at", UTCDateTime(), nullable=True),
        sa.Column("furnisher_notice_late_at", UTCDateTime(), nullable=True),
        sa.Column("information_added_at", UTCDateTime(), nullable=True),
        sa.Column("answered_at", UTCDateTime(), nullable=True),
        sa.Column("answered_by", sa.String(80), nullable=True),
        sa.Column("correction", sa.JSON(), nullable=True),
        sa.Column("correction_note", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "item_kind IN ('event', 'court_listing', 'identity_link')",
            name="ck_disputes_item_kind",
        ),
        sa.CheckConstraint(
            "state IN ('open', 'verified', 'corrected', 'deleted', 'unverifiable', 'lapsed')",
            name="ck_disputes_state",
        ),
        sa.CheckConstraint(
            "(state = 'open') = (answered_at IS NULL)",
            name="ck_disputes_answered_exactly_when_closed",
        ),
        sa.ForeignKeyConstraint(["person_id"], ["people.person_id"], name="fk_disputes_person_id"),
        sa.ForeignKeyConstraint(
            ["previous_dispute_id"],
            ["disputes.dispute_id"],
            name="fk_disputes_previous_dispute_id",
        ),
        sa.PrimaryKeyConstraint("dispute_id", name="pk_disputes"),
    )
    op.create_index("ix_disputes_person_id", "disputes", ["person_id"])
    op.create_index("ix_disputes_furnisher", "disputes", ["furnisher"])
    op.create_table(
        "dispute_evidence",
        sa.Column("evidence_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dispute_id", sa.String(36), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("media_type", sa.String(32), nullable=False),
        sa.Column("original_name", sa.String(200), nullable=False),
        sa.Column("added_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "media_type IN ('application/pdf', 'image/png', 'image/jpeg', 'text/plain')",
            name="ck_dispute_evidence_media_type",
        ),
        sa.ForeignKeyConstraint(
            ["dispute_id"], ["disputes.dispute_id"], name="fk_dispute_evidence_dispute_id"
        ),
        sa.PrimaryKeyConstraint("evidence_id", name="pk_dispute_evidence"),
    )
    op.create_index("ix_dispute_evidence_dispute_id", "dispute_evidence", ["dispute_id"])
    op.create_table(
        "item_states",
        sa.Column("item_kind", sa.String(16), nullable=False),
        sa.Column("item_ref", sa.String(200), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("since", UTCDateTime(), nullable=False),
        sa.Column("dispute_id", sa.String(36), nullable=False),
        sa.CheckConstraint(
            "state IN ('disputed', 'suppressed', 'corrected')", name="ck_item_states_state"
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.person_id"], name="fk_item_states_person_id"
        ),
        sa.ForeignKeyConstraint(
            ["dispute_id"], ["disputes.dispute_id"], name="fk_item_states_dispute_id"
        ),
        sa.PrimaryKeyConstraint("item_kind", "item_ref", name="pk_item_states"),
    )
    op.create_index("ix_item_states_person_id", "item_states", ["person_id"])
    op.create_table(
        "webhook_endpoints",
        sa.Column("recipient", sa.String(64), nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("secret_encrypted", sa.Text(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("recipient", name="pk_webhook_endpoints"),
    )
    op.create_table(
        "outbox_messages",
        sa.Column("message_id", sa.String(36), nullable=False),
        sa.Column("recipient", sa.String(64), nullable=False),
        sa.Column("topic", sa.String(64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("dispute_id", sa.String(36), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
        sa.Column("dead_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.CheckConstraint("attempts >= 0", name="ck_outbox_messages_attempts"),
        sa.ForeignKeyConstraint(
            ["dispute_id"], ["disputes.dispute_id"], name="fk_outbox_messages_dispute_id"
        ),
        sa.PrimaryKeyConstraint("message_id", name="pk_outbox_messages"),
    )
    op.create_index("ix_outbox_messages_dispute_id", "outbox_messages", ["dispute_id"])
    op.create_table(
        "outbox_deliveries",
        sa.Column("delivery_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("message_id", sa.String(36), nullable=False),
        sa.Column("attempted_at", UTCDateTime(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(500), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("response_prefix", sa.String(200), nullable=True),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["outbox_messages.message_id"],
            name="fk_outbox_deliveries_message_id",
        ),
        sa.PrimaryKeyConstraint("delivery_id", name="pk_outbox_deliveries"),
    )
    op.create_index("ix_outbox_deliveries_message_id", "outbox_deliveries", ["message_id"])


def downgrade() -> None:
    for table in (
        "outbox_deliveries",
        "outbox_messages",
        "webhook_endpoints",
        "item_states",
        "dispute_evidence",
        "disputes",
    ):
        op.drop_table(table)
