"""Score-change alerts keyed by their run: (ref, person_id) where kind = 'score_change'.

Every alert was keyed (person_id, kind, ref). A month's publication raises an alert for each
person whose score moved (213,000 of a million people in the benchmark's world), and led by
the person each of them went into its own place in a key that holds every alert ever
raised: with a year of alerts (6.8 million) the publication's 213,000 took 2.8 s and wrote
434 MB of SQLite's log, growing every month; keyed by the run they took 0.44 s and 56 MB,
whatever the history (the same rows, in one store, one after the other). The key is split
by kind into two partial unique indexes, so each alert is still one per person, kind and
cause: score changes by (ref, person_id), the run first; every other kind, raised a few
at a time, by (person_id, kind, ref) as before. A person's score-change alerts are found
through the runs, as their snapshots are (0030).

SQLite cannot drop a table's constraint in place: the table is built again from its own
definition without it, and the rows copied in their order.

Revision ID: 0031
Revises: 0030
"""

import re
from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None

_NAME = "uq_alerts_one_per_cause"
_BY_RUN = "uq_alerts_score_change_by_run"
_COLUMNS = "person_id, kind, ref"
_CONSTRAINT = f"CONSTRAINT {_NAME} UNIQUE ({_COLUMNS})"
_OTHERS = "kind <> 'score_change'"
_SCORE_CHANGES = "kind = 'score_change'"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild(_without_constraint, _CONSTRAINT)
    else:
        op.drop_constraint(_NAME, "alerts", type_="unique")
    _partial(_NAME, ["person_id", "kind", "ref"], _OTHERS)
    _partial(_BY_RUN, ["ref", "person_id"], _SCORE_CHANGES)


def downgrade() -> None:
    op.drop_index(_BY_RUN, table_name="alerts")
    op.drop_index(_NAME, table_name="alerts")
    if op.get_bind().dialect.name == "sqlite":
        _rebuild(_with_constraint, None)
    else:
        op.create_unique_constraint(_NAME, "alerts", ["person_id", "kind", "ref"])


def _partial(name: str, columns: list[str], predicate: str) -> None:
    op.create_index(
        name,
        "alerts",
        columns,
        unique=True,
        sqlite_where=sa.text(predicate),
        postgresql_where=sa.text(predicate),
    )


def _without_constraint(definition: str) -> str:
    return re.sub(rf",\s*{re.escape(_CONSTRAINT)}", "", definition)


def _with_constraint(definition: str) -> str:
    """The table's definition with the single key restored as its last constraint."""
    closing = definition.rstrip().rfind(")")
    return f"{definition[:closing].rstrip()}, \n\t{_CONSTRAINT}\n)"


def _rebuild(rewrite: Callable[[str], str], expected: str | None) -> None:
    """Build `alerts` again from its definition as `rewrite` changes it, rows copied."""
    bind = op.get_bind()
    definition = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'alerts'"
    ).scalar_one()
    if expected is not None and expected not in definition:
        raise RuntimeError(f"alerts has no key {expected!r}: {definition}")
    changed = rewrite(definition)
    if expected is not None and expected in changed:
        raise RuntimeError(f"alerts' key {expected!r} could not be taken out: {definition}")
    rebuilt = re.sub(r'^CREATE TABLE\s+"?alerts"?', "CREATE TABLE alerts_rekeyed", changed)
    indexes = [
        sql
        for (sql,) in bind.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'index' "
            "AND tbl_name = 'alerts' AND sql IS NOT NULL"
        )
    ]
    op.execute(rebuilt)
    op.execute("INSERT INTO alerts_rekeyed SELECT * FROM alerts ORDER BY alert_id")
    op.execute("DROP TABLE alerts")
    op.execute("ALTER TABLE alerts_rekeyed RENAME TO alerts")
    for sql in indexes:
        op.execute(sql)
