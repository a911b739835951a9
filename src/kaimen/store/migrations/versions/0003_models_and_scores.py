"""Model registry, score snapshots, score runs and people's own tokens.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from kaimen.store.types import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("path", sa.String(400), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("trained_at", UTCDateTime(), nullable=False),
        sa.Column("as_of", sa.String(7), nullable=False),
        sa.Column("metrics", sa.Text(), nullable=False),
        sa.Column("champion", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint("kind IN ('scorecard', 'lightgbm')", name="ck_models_kind"),
        sa.CheckConstraint("champion IN (0, 1)", name="ck_models_champion"),
        sa.PrimaryKeyConstraint("version", name="pk_models"),
    )
    op.create_table(
        "score_snapshots",
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("band", sa.String(16), nullable=True),
        sa.Column("thin_file", sa.Integer(), nullable=False),
        sa.Column("credit_history", sa.Integer(), nullable=True),
        sa.Column("behaviour", sa.Integer(), nullable=True),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("identity", sa.Integer(), nullable=True),
        sa.Column("connections", sa.Integer(), nullable=True),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("points", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.person_id"], name="fk_score_snapshots_person_id"
        ),
        sa.ForeignKeyConstraint(
            ["model_version"], ["models.version"], name="fk_score_snapshots_model_version"
        ),
        sa.UniqueConstraint("person_id", "month", "model_version", name="uq_score_snapshots_key"),
        sa.CheckConstraint(
            "score IS NULL OR score BETWEEN 350 AND 950", name="ck_score_snapshots_score_range"
        ),
    )
    op.create_table(
        "score_runs",
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("people", sa.Integer(), nullable=False),
        sa.Column("published_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_version"], ["models.version"], name="fk_score_runs_model_version"
        ),
        sa.PrimaryKeyConstraint("month", "model_version", name="pk_score_runs"),
    )

    op.create_table(
        "person_tokens",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.person_id"], name="fk_person_tokens_person_id"
        ),
        sa.PrimaryKeyConstraint("token_hash", name="pk_person_tokens"),
    )
    op.create_index("ix_person_tokens_person_id", "person_tokens", ["person_id"])


def downgrade() -> None:
    op.drop_table("person_tokens")
    op.drop_table("score_runs")
    op.drop_table("score_snapshots")
    op.drop_table("models")
