"""The points programme: installed rulebooks, the append-only ledger, stored balances; a
ledger entry becomes a disputable item.

Revision ID: 0020
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

from kaimen.store.types import UTCDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

ITEM_KINDS_BEFORE = "item_kind IN ('event', 'court_listing', 'identity_link')"
ITEM_KINDS = "item_kind IN ('event', 'court_listing', 'identity_link', 'points_entry')"


# 0009 gave the check the name "ck_disputes_item_kind", which the naming convention
# prefixed again: in the database it is "ck_disputes_ck_disputes_item_kind". A plain name
# here is prefixed the same way; `op.f` marks a name as final. The new check takes the name
# the tables declare, and the downgrade puts back 0009's.
KIND_CHECK = "ck_disputes_item_kind"


def upgrade_item_kinds() -> None:
    # SQLite alters a CHECK only by copying the table, which batch mode does.
    with op.batch_alter_table("disputes") as batch:
        batch.drop_constraint(KIND_CHECK, type_="check")
        batch.create_check_constraint(op.f(KIND_CHECK), ITEM_KINDS)


def downgrade_item_kinds() -> None:
    with op.batch_alter_table("disputes") as batch:
        batch.drop_constraint(op.f(KIND_CHECK), type_="check")
        batch.create_check_constraint(KIND_CHECK, ITEM_KINDS_BEFORE)


def upgrade() -> None:
    op.create_table(
        "points_rulebooks",
        sa.Column("rulebook_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("profile", sa.String(32), nullable=False),
        sa.Column("installed_at", UTCDateTime(), nullable=False),
        sa.Column("installed_by", sa.String(80), nullable=False),
        sa.PrimaryKeyConstraint("rulebook_id", name="pk_points_rulebooks"),
    )
    op.create_index("ix_points_rulebooks_installed_at", "points_rulebooks", ["installed_at"])
    op.create_table(
        "points_ledger",
        sa.Column("entry_id", sa.String(36), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("rulebook_id", sa.String(64), nullable=False),
        sa.Column("rule_id", sa.String(64), nullable=False),
        sa.Column("entry_kind", sa.String(16), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column("halves_every_months", sa.Integer(), nullable=True),
        sa.Column("awarded_at", UTCDateTime(), nullable=False),
        sa.Column("reverses", sa.String(36), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "entry_kind IN ('award', 'reversal')", name="ck_points_ledger_entry_kind"
        ),
        sa.CheckConstraint(
            "(entry_kind = 'reversal') = (reverses IS NOT NULL)",
            name="ck_points_ledger_reversal_names_entry",
        ),
        sa.CheckConstraint(
            "entry_kind = 'reversal' OR points >= 0 OR expires_on IS NOT NULL",
            name="ck_points_ledger_deductions_expire",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.person_id"], name="fk_points_ledger_person_id"
        ),
        sa.ForeignKeyConstraint(
            ["rulebook_id"],
            ["points_rulebooks.rulebook_id"],
            name="fk_points_ledger_rulebook_id",
        ),
        sa.ForeignKeyConstraint(
            ["reverses"], ["points_ledger.entry_id"], name="fk_points_ledger_reverses"
        ),
        sa.PrimaryKeyConstraint("entry_id", name="pk_points_ledger"),
        sa.UniqueConstraint(
            "rule_id", "source", "event_id", "entry_kind", name="uq_points_ledger_award_once"
        ),
        sa.UniqueConstraint("reverses", name="uq_points_ledger_reversed_once"),
    )
    op.create_index("ix_points_ledger_person_id", "points_ledger", ["person_id"])
    op.create_table(
        "points_balances",
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("balance", sa.Integer(), nullable=False),
        sa.Column("rulebook_id", sa.String(64), nullable=False),
        sa.Column("computed_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.person_id"], name="fk_points_balances_person_id"
        ),
        sa.PrimaryKeyConstraint("person_id", name="pk_points_balances"),
    )
    upgrade_item_kinds()


def downgrade() -> None:
    downgrade_item_kinds()
    op.drop_table("points_balances")
    op.drop_table("points_ledger")
    op.drop_index("ix_points_rulebooks_installed_at", "points_rulebooks")
    op.drop_table("points_rulebooks")
