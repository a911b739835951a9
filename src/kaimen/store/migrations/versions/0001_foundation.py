"""Foundation: people, identities, ingest batches, lake files, event inbox, audit log.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from kaimen.store.types import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "people",
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("enrolled_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(16), server_default="active", nullable=False),
        sa.CheckConstraint("status IN ('active', 'opted_out')", name="ck_people_status"),
        sa.PrimaryKeyConstraint("person_id", name="pk_people"),
    )
    op.create_table(
        "identities",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("lookup_hash", sa.String(64), nullable=False),
        sa.Column("encrypted_value", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("kind IN ('cn_resident_id', 'phone')", name="ck_identities_kind"),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.person_id"], name="fk_identities_person_id"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_identities"),
        sa.UniqueConstraint("kind", "lookup_hash", name="uq_identities_kind_hash"),
        sa.UniqueConstraint("person_id", "kind", name="uq_identities_person_kind"),
    )
    op.create_table(
        "ingest_batches",
        sa.Column("batch_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("file_sha256", sa.String(64), nullable=True),
        sa.Column("file_name", sa.String(400), nullable=True),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("events_total", sa.Integer(), nullable=False),
        sa.Column("events_new", sa.Integer(), nullable=False),
        sa.Column("events_duplicate", sa.Integer(), nullable=False),
        sa.CheckConstraint("channel IN ('file', 'seal')", name="ck_ingest_batches_channel"),
        sa.CheckConstraint(
            "events_new + events_duplicate = events_total", name="ck_ingest_batches_counts"
        ),
        sa.PrimaryKeyConstraint("batch_id", name="pk_ingest_batches"),
        sa.UniqueConstraint("file_sha256", name="uq_ingest_batches_file_sha256"),
    )
    op.create_table(
        "lake_files",
        sa.Column("file_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("path", sa.String(400), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["ingest_batches.batch_id"], name="fk_lake_files_batch_id"
        ),
        sa.PrimaryKeyConstraint("file_id", name="pk_lake_files"),
        sa.UniqueConstraint("path", name="uq_lake_files_path"),
    )
    op.create_index("ix_lake_files_month", "lake_files", ["month"])
    op.create_table(
        "event_inbox",
        sa.Column("inbox_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("content_hash", sa.String(32), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("sealed_batch_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.person_id"], name="fk_event_inbox_person_id"
        ),
        sa.ForeignKeyConstraint(
            ["sealed_batch_id"],
            ["ingest_batches.batch_id"],
            name="fk_event_inbox_sealed_batch_id",
        ),
        sa.PrimaryKeyConstraint("inbox_id", name="pk_event_inbox"),
        sa.UniqueConstraint("source", "event_id", name="uq_event_inbox_source_event"),
    )
    op.create_index("ix_event_inbox_sealed_batch_id", "event_inbox", ["sealed_batch_id"])
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(128), nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("row_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_log"),
        sa.UniqueConstraint("prev_hash", name="uq_audit_log_prev_hash"),
        sa.UniqueConstraint("row_hash", name="uq_audit_log_row_hash"),
    )


def downgrade() -> None:
    for table in (
        "audit_log",
        "event_inbox",
        "lake_files",
        "ingest_batches",
        "identities",
        "people",
    ):
        op.drop_table(table)
