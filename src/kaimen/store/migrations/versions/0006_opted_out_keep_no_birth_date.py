"""A person who opts out keeps no birth date: the column becomes nullable, and a constraint
ties it to the status (active: a birth date; opted out: none).

SQLite cannot change a column's nullability, so the table is rebuilt. Alembic's batch mode
would copy it to a new table, drop `people` and rename the copy; with foreign keys on (they
always are, see database.py) dropping `people` orphans every referring row, and a rename
never counts them as fixed, so the commit fails. Instead the rows are held in a temporary
table, `people` is dropped and re-created under its own name, and the rows are inserted
back: with foreign keys deferred to the commit, re-inserting each parent row clears the
violations its drop caused.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from kaimen.store.types import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

COLUMNS = "person_id, birth_date, enrolled_at, status"
BIRTH_DATE_RULE = (
    "(status = 'active' AND birth_date IS NOT NULL)"
    " OR (status = 'opted_out' AND birth_date IS NULL)"
)
CONSTRAINT = "ck_people_birth_date_only_while_active"


def _rebuild_sqlite_people(birth_date_nullable: bool, rule: bool) -> None:
    op.execute(f"CREATE TEMP TABLE people_hold AS SELECT {COLUMNS} FROM people WHERE 0")
    # An insert, not CREATE ... AS: Python's sqlite3 opens the transaction at the first
    # INSERT/UPDATE/DELETE, and the pragma below only lasts for an open transaction.
    op.execute(f"INSERT INTO people_hold SELECT {COLUMNS} FROM people")
    op.execute("PRAGMA defer_foreign_keys = ON")
    op.execute("DROP TABLE people")
    checks = [sa.CheckConstraint("status IN ('active', 'opted_out')", name="ck_people_status")]
    if rule:
        checks.append(sa.CheckConstraint(BIRTH_DATE_RULE, name=op.f(CONSTRAINT)))
    op.create_table(
        "people",
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=birth_date_nullable),
        sa.Column("enrolled_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(16), server_default="active", nullable=False),
        *checks,
        sa.PrimaryKeyConstraint("person_id", name="pk_people"),
    )
    op.execute(f"INSERT INTO people ({COLUMNS}) SELECT {COLUMNS} FROM people_hold")
    op.execute("DROP TABLE people_hold")


def upgrade() -> None:
    # No code set 'opted_out' before this revision; should a row say so, it keeps no birth date.
    op.execute("UPDATE people SET birth_date = NULL WHERE status = 'opted_out'")
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite_people(birth_date_nullable=True, rule=True)
        return
    op.alter_column("people", "birth_date", existing_type=sa.Date(), nullable=True)
    op.create_check_constraint(op.f(CONSTRAINT), "people", BIRTH_DATE_RULE)


def downgrade() -> None:
    removed = (
        op.get_bind()
        .execute(sa.text("SELECT count(*) FROM people WHERE birth_date IS NULL"))
        .scalar_one()
    )
    if removed:
        raise RuntimeError(
            f"cannot downgrade below 0006: {removed} person(s) opted out and keep no birth "
            "date, which the older schema requires"
        )
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite_people(birth_date_nullable=False, rule=False)
        return
    op.drop_constraint(op.f(CONSTRAINT), "people", type_="check")
    op.alter_column("people", "birth_date", existing_type=sa.Date(), nullable=False)
