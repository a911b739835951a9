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
decision for good (see 0006); its rows are held in a temporary table and it is re-created
under its own name instead, from its own reflected definition.

Revision ID: 0007
Revises: 0006
"""

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


@dataclass(frozen=True)
class Change:
    table: str
    column: str
    old: sa.types.TypeEngine[Any]
    new: sa.types.TypeEngine[Any]
    # The 0-or-1 CHECK the integer had (its name as 0005 passed it).
    check: str | None = None
    # The server default, before and after (PostgreSQL cannot cast one with the column).
    defaults: tuple[str, Any] | None = None

    def using(self, forward: bool) -> str:
        """How PostgreSQL converts the values one way or the other."""
        if isinstance(self.new, sa.Boolean):
            return f"{self.column} <> 0" if forward else f"{self.column}::integer"
        return f"{self.column}::json" if forward else f"{self.column}::text"


def _flag(table: str, column: str, **kw: Any) -> Change:
    return Change(table, column, sa.Integer(), sa.Boolean(), **kw)


def _json(table: str, column: str) -> Change:
    return Change(table, column, sa.Text(), sa.JSON())


CHANGES = (
    _flag("score_snapshots", "thin_file"),
    _json("score_snapshots", "reasons"),
    _json("score_snapshots", "points"),
    _flag("decisions", "approved", check="ck_decisions_approved"),
    _flag("decisions", "score_shared", check="ck_decisions_score_shared"),
    _json("decisions", "reasons"),
    _json("access_log", "disclosed"),
    _flag("consents", "share_score", check="ck_consents_share_score", defaults=("0", sa.false())),
    _json("offers", "min_dimensions"),
)
# Referred to by other tables' foreign keys: never copied by batch mode on SQLite.
PARENTS = ("offers",)


def _alter(batch: BatchOperations, change: Change, forward: bool) -> None:
    if forward and change.check is not None:
        batch.drop_constraint(change.check, type_="check")
    if change.defaults is not None:
        batch.alter_column(change.column, server_default=None)
    batch.alter_column(
        change.column,
        type_=change.new if forward else change.old,
        existing_type=change.old if forward else change.new,
        existing_nullable=False,
        postgresql_using=change.using(forward),
    )
    if change.defaults is not None:
        before, after = change.defaults
        batch.alter_column(change.column, server_default=after if forward else before)
    if not forward and change.check is not None:
        batch.create_check_constraint(change.check, sa.text(f"{change.column} IN (0, 1)"))


def _rebuild_sqlite_parent(name: str, changes: list[Change], forward: bool) -> None:
    table = sa.Table(name, sa.MetaData(), autoload_with=op.get_bind())
    for change in changes:
        table.c[change.column].type = change.new if forward else change.old
    op.execute(f"CREATE TEMP TABLE {name}_hold AS SELECT * FROM {name} WHERE 0")
    # An insert, not CREATE ... AS: Python's sqlite3 opens the transaction at the first
    # INSERT/UPDATE/DELETE, and the pragma below only lasts for an open transaction.
    op.execute(f"INSERT INTO {name}_hold SELECT * FROM {name}")
    op.execute("PRAGMA defer_foreign_keys = ON")
    op.execute(f"DROP TABLE {name}")
    table.create(op.get_bind())
    # The same columns in the same order; a JSON value's text is kept as it is.
    op.execute(f"INSERT INTO {name} SELECT * FROM {name}_hold")
    op.execute(f"DROP TABLE {name}_hold")


def _migrate(forward: bool) -> None:
    tables = dict.fromkeys(change.table for change in CHANGES)
    for table in tables if forward else reversed(tables):
        changes = [change for change in CHANGES if change.table == table]
        if table in PARENTS and op.get_bind().dialect.name == "sqlite":
            _rebuild_sqlite_parent(table, changes, forward)
            continue
        with op.batch_alter_table(table) as batch:
            for change in changes if forward else reversed(changes):
                _alter(batch, change, forward)


def upgrade() -> None:
    _migrate(forward=True)


def downgrade() -> None:
    _migrate(forward=False)
