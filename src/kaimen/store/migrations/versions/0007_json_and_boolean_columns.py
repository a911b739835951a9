"""JSON columns for what was JSON text (reasons, points, what was disclosed, an offer's
minimum sub-scores) and Boolean columns for what were integers with a 0-or-1 CHECK; every
existing value is kept.

Left as they are: `audit_log.details`, whose hash chain covers exactly the stored text (a
JSON column would hand back a parsed value to re-serialise, and a chain must not depend on
that); `event_inbox.fields`, which is searched as text for friend links; and `models`, whose
metrics and champion flag belong to the model registry.

PostgreSQL changes each column in place (`USING` converts the values). SQLite cannot, so
tables are copied: by Alembic's batch mode, except `offers`, which `decisions` refers to.
Batch mode would drop `offers` and rename its copy, which with foreign keys on orphans every
decision for good (see 0006); it is held in a temporary table and re-created under its own
name instead.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op

from kaimen.store.types import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# table -> its JSON columns, and its 0-or-1 columns with the CHECK each had (None: none).
JSON_COLUMNS = {
    "score_snapshots": ("reasons", "points"),
    "decisions": ("reasons",),
    "access_log": ("disclosed",),
}
BOOLEAN_COLUMNS: dict[str, tuple[tuple[str, str | None], ...]] = {
    "score_snapshots": (("thin_file", None),),
    "decisions": (
        ("approved", "ck_decisions_approved"),
        ("score_shared", "ck_decisions_score_shared"),
    ),
    "consents": (("share_score", "ck_consents_share_score"),),
}


def _is_sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _offers_table(min_dimensions: sa.types.TypeEngine[Any]) -> None:
    op.create_table(
        "offers",
        sa.Column("offer_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("partner_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("purpose", sa.String(200), nullable=False),
        sa.Column("min_score", sa.Integer(), nullable=False),
        sa.Column("min_band", sa.String(16), nullable=True),
        sa.Column("min_dimensions", min_dimensions, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("withdrawn_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint("min_score BETWEEN 350 AND 950", name="ck_offers_min_score"),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.partner_id"], name="fk_offers_partner_id"
        ),
        sa.PrimaryKeyConstraint("offer_id", name="pk_offers"),
    )
    op.create_index("ix_offers_partner_id", "offers", ["partner_id"])


def _rebuild_sqlite_offers(create: Callable[[], None]) -> None:
    op.execute("CREATE TEMP TABLE offers_hold AS SELECT * FROM offers WHERE 0")
    # An insert, not CREATE ... AS: Python's sqlite3 opens the transaction at the first
    # INSERT/UPDATE/DELETE, and the pragma below only lasts for an open transaction.
    op.execute("INSERT INTO offers_hold SELECT * FROM offers")
    op.execute("PRAGMA defer_foreign_keys = ON")
    op.execute("DROP TABLE offers")
    create()
    # Same columns in the same order; the text of each JSON value is kept as it is.
    op.execute("INSERT INTO offers SELECT * FROM offers_hold")
    op.execute("DROP TABLE offers_hold")


def upgrade() -> None:
    for table in ("score_snapshots", "decisions", "access_log", "consents"):
        with op.batch_alter_table(table) as batch:
            for column, check in BOOLEAN_COLUMNS.get(table, ()):
                if check is not None:
                    batch.drop_constraint(check, type_="check")
                if table == "consents":
                    # PostgreSQL cannot cast the integer default; it is set again below.
                    batch.alter_column(column, server_default=None)
                batch.alter_column(
                    column,
                    type_=sa.Boolean(),
                    existing_type=sa.Integer(),
                    existing_nullable=False,
                    postgresql_using=f"{column} <> 0",
                )
                if table == "consents":
                    batch.alter_column(column, server_default=sa.false())
            for column in JSON_COLUMNS.get(table, ()):
                batch.alter_column(
                    column,
                    type_=sa.JSON(),
                    existing_type=sa.Text(),
                    existing_nullable=False,
                    postgresql_using=f"{column}::json",
                )
    if _is_sqlite():
        _rebuild_sqlite_offers(lambda: _offers_table(sa.JSON()))
    else:
        op.alter_column(
            "offers",
            "min_dimensions",
            type_=sa.JSON(),
            existing_type=sa.Text(),
            existing_nullable=False,
            postgresql_using="min_dimensions::json",
        )


def downgrade() -> None:
    if _is_sqlite():
        _rebuild_sqlite_offers(lambda: _offers_table(sa.Text()))
    else:
        op.alter_column(
            "offers",
            "min_dimensions",
            type_=sa.Text(),
            existing_type=sa.JSON(),
            existing_nullable=False,
            postgresql_using="min_dimensions::text",
        )
    for table in ("consents", "access_log", "decisions", "score_snapshots"):
        with op.batch_alter_table(table) as batch:
            for column in JSON_COLUMNS.get(table, ()):
                batch.alter_column(
                    column,
                    type_=sa.Text(),
                    existing_type=sa.JSON(),
                    existing_nullable=False,
                    postgresql_using=f"{column}::text",
                )
            for column, check in BOOLEAN_COLUMNS.get(table, ()):
                if table == "consents":
                    batch.alter_column(column, server_default=None)
                batch.alter_column(
                    column,
                    type_=sa.Integer(),
                    existing_type=sa.Boolean(),
                    existing_nullable=False,
                    postgresql_using=f"{column}::integer",
                )
                if table == "consents":
                    batch.alter_column(column, server_default="0")
                if check is not None:
                    batch.create_check_constraint(check, sa.text(f"{column} IN (0, 1)"))
