"""The court list: import files, listings (name and ID number hashed and encrypted), their
status history, identity links from listings to people (at most one live link per listing)
and the review queue of candidate links.

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
        "court_list_files",
        sa.Column("file_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("name", sa.String(400), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("imported_at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("new_listings", sa.Integer(), nullable=False),
        sa.Column("status_changes", sa.Integer(), nullable=False),
        sa.CheckConstraint("channel IN ('file', 'api')", name="ck_court_list_files_channel"),
        sa.PrimaryKeyConstraint("file_id", name="pk_court_list_files"),
        sa.UniqueConstraint("sha256", name="uq_court_list_files_sha256"),
    )
    op.create_table(
        "court_listings",
        sa.Column("listing_id", sa.String(32), nullable=False),
        sa.Column("court", sa.String(200), nullable=False),
        sa.Column("case_number", sa.String(100), nullable=False),
        sa.Column("amount", sa.Numeric(18, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("judgment_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("name_hash", sa.String(64), nullable=False),
        sa.Column("name_encrypted", sa.Text(), nullable=False),
        sa.Column("id_form", sa.String(10), nullable=False),
        sa.Column("id_hash", sa.String(64), nullable=True),
        sa.Column("id_pattern_hash", sa.String(64), nullable=True),
        sa.Column("id_encrypted", sa.Text(), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("imported_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "status IN ('entered', 'satisfied', 'overturned', 'settled-pending', 'lifted')",
            name="ck_court_listings_status",
        ),
        sa.CheckConstraint(
            "id_form IN ('full', 'masked', 'unverified')", name="ck_court_listings_id_form"
        ),
        sa.CheckConstraint(
            "(id_form = 'full' AND id_hash IS NOT NULL AND id_pattern_hash IS NULL)"
            " OR (id_form <> 'full' AND id_hash IS NULL AND id_pattern_hash IS NOT NULL)",
            name="ck_court_listings_id_hashes",
        ),
        sa.CheckConstraint("amount >= 0", name="ck_court_listings_amount"),
        sa.ForeignKeyConstraint(
            ["file_id"], ["court_list_files.file_id"], name="fk_court_listings_file_id"
        ),
        sa.PrimaryKeyConstraint("listing_id", name="pk_court_listings"),
        sa.UniqueConstraint("court", "case_number", name="uq_court_listings_case"),
    )
    op.create_index("ix_court_listings_id_hash", "court_listings", ["id_hash"])
    op.create_index("ix_court_listings_id_pattern_hash", "court_listings", ["id_pattern_hash"])
    op.create_table(
        "court_listing_history",
        sa.Column("history_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("listing_id", sa.String(32), nullable=False),
        sa.Column("changed_at", UTCDateTime(), nullable=False),
        sa.Column("old_status", sa.String(16), nullable=True),
        sa.Column("new_status", sa.String(16), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.ForeignKeyConstraint(
            ["listing_id"],
            ["court_listings.listing_id"],
            name="fk_court_listing_history_listing_id",
        ),
        sa.ForeignKeyConstraint(
            ["file_id"], ["court_list_files.file_id"], name="fk_court_listing_history_file_id"
        ),
        sa.PrimaryKeyConstraint("history_id", name="pk_court_listing_history"),
    )
    op.create_index("ix_court_listing_history_listing_id", "court_listing_history", ["listing_id"])
    op.create_table(
        "identity_links",
        sa.Column("link_id", sa.String(32), nullable=False),
        sa.Column("listing_id", sa.String(32), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("match_probability", sa.Numeric(7, 6), nullable=False),
        sa.Column("approved_by", sa.String(128), nullable=False),
        sa.Column("linked_at", UTCDateTime(), nullable=False),
        sa.Column("undone_at", UTCDateTime(), nullable=True),
        sa.Column("undone_by", sa.String(128), nullable=True),
        sa.Column("undo_reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "method IN ('exact_id', 'probabilistic', 'review')", name="ck_identity_links_method"
        ),
        sa.CheckConstraint(
            "match_probability BETWEEN 0 AND 1", name="ck_identity_links_probability"
        ),
        sa.CheckConstraint(
            "(undone_at IS NULL AND undone_by IS NULL AND undo_reason IS NULL)"
            " OR (undone_at IS NOT NULL AND undone_by IS NOT NULL AND undo_reason IS NOT NULL)",
            name="ck_identity_links_undone_together",
        ),
        sa.ForeignKeyConstraint(
            ["listing_id"], ["court_listings.listing_id"], name="fk_identity_links_listing_id"
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.person_id"], name="fk_identity_links_person_id"
        ),
        sa.PrimaryKeyConstraint("link_id", name="pk_identity_links"),
    )
    op.create_index("ix_identity_links_listing_id", "identity_links", ["listing_id"])
    op.create_index("ix_identity_links_person_id", "identity_links", ["person_id"])
    op.create_index(
        "uq_identity_links_live_listing",
        "identity_links",
        ["listing_id"],
        unique=True,
        sqlite_where=sa.text("undone_at IS NULL"),
        postgresql_where=sa.text("undone_at IS NULL"),
    )
    op.create_table(
        "link_reviews",
        sa.Column("review_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("listing_id", sa.String(32), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("match_probability", sa.Numeric(7, 6), nullable=False),
        sa.Column("state", sa.String(10), server_default="pending", nullable=False),
        sa.Column("queued_at", UTCDateTime(), nullable=False),
        sa.Column("decided_by", sa.String(128), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("link_id", sa.String(32), nullable=True),
        sa.CheckConstraint(
            "state IN ('pending', 'approved', 'rejected')", name="ck_link_reviews_state"
        ),
        sa.CheckConstraint("match_probability BETWEEN 0 AND 1", name="ck_link_reviews_probability"),
        sa.CheckConstraint(
            "(state = 'pending') = (decided_at IS NULL)",
            name="ck_link_reviews_decided_unless_pending",
        ),
        sa.ForeignKeyConstraint(
            ["listing_id"], ["court_listings.listing_id"], name="fk_link_reviews_listing_id"
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.person_id"], name="fk_link_reviews_person_id"
        ),
        sa.ForeignKeyConstraint(
            ["link_id"], ["identity_links.link_id"], name="fk_link_reviews_link_id"
        ),
        sa.PrimaryKeyConstraint("review_id", name="pk_link_reviews"),
        sa.UniqueConstraint("listing_id", "person_id", name="uq_link_reviews_pair"),
    )
    op.create_index("ix_link_reviews_listing_id", "link_reviews", ["listing_id"])
    op.create_index("ix_link_reviews_person_id", "link_reviews", ["person_id"])


def downgrade() -> None:
    op.drop_table("link_reviews")
    op.drop_table("identity_links")
    op.drop_table("court_listing_history")
    op.drop_table("court_listings")
    op.drop_table("court_list_files")
