"""Monthly summaries: summary files and the lake files each one covers.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from kaimen.store.types import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "summary_files",
        sa.Column("summary_file_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("path", sa.String(400), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("summary_file_id", name="pk_summary_files"),
        sa.UniqueConstraint("path", name="uq_summary_files_path"),
    )
    op.create_table(
        "summarised_lake_files",
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("summary_file_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["file_id"], ["lake_files.file_id"], name="fk_summarised_lake_files_file_id"
        ),
        sa.ForeignKeyConstraint(
            ["summary_file_id"],
            ["summary_files.summary_file_id"],
            name="fk_summarised_lake_files_summary_file_id",
        ),
        sa.PrimaryKeyConstraint("file_id", name="pk_summarised_lake_files"),
    )
    op.create_index(
        "ix_summarised_lake_files_summary_file_id", "summarised_lake_files", ["summary_file_id"]
    )


def downgrade() -> None:
    op.drop_table("summarised_lake_files")
    op.drop_table("summary_files")
