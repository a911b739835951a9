"""Score snapshots keyed by their run on SQLite: (month, model_version, person_id).

Led by the person, the key put each new row next to the person's earlier months: a
month's publication touched nearly every page of an index that grows by a month of people
each month, and SQLite wrote all of them to its log again (a million people's publication
on top of one earlier month: 6.9 s, 437 MB of log; led by the run, 3.8 s and 305 MB, and no
longer growing with the history). Every read of a person's snapshots goes through their
runs (`score_runs`, a few rows a month), each a lookup of the whole key.

On PostgreSQL nothing changes: each month has a table of its own since 0029, its key
built once over the loaded rows, so the order costs nothing to write there, and led by the
person a person's rows are one probe of each month's key.

SQLite cannot change a table's constraint in place: the table is built again from its own
definition with the key's columns reordered, and the rows copied in key order.

Revision ID: 0030
Revises: 0029
"""

import re

from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None

_NAME = "uq_score_snapshots_key"
_BY_PERSON = "person_id, month, model_version"
_BY_RUN = "month, model_version, person_id"


def upgrade() -> None:
    _rekey(_BY_PERSON, _BY_RUN)


def downgrade() -> None:
    _rekey(_BY_RUN, _BY_PERSON)


def _rekey(before: str, after: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    definition = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'score_snapshots'"
    ).scalar_one()
    key = f"CONSTRAINT {_NAME} UNIQUE ({before})"
    if key not in definition:
        raise RuntimeError(f"score_snapshots has no key {key!r}: {definition}")
    # The table's own definition, so every column keeps its declared type and check.
    rebuilt = re.sub(
        r'^CREATE TABLE\s+"?score_snapshots"?',
        "CREATE TABLE score_snapshots_rekeyed",
        definition.replace(key, f"CONSTRAINT {_NAME} UNIQUE ({after})"),
    )
    indexes = [
        sql
        for (sql,) in bind.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'index' "
            "AND tbl_name = 'score_snapshots' AND sql IS NOT NULL"
        )
    ]
    op.execute(rebuilt)
    op.execute(
        f"INSERT INTO score_snapshots_rekeyed SELECT * FROM score_snapshots ORDER BY {after}"
    )
    op.execute("DROP TABLE score_snapshots")
    op.execute("ALTER TABLE score_snapshots_rekeyed RENAME TO score_snapshots")
    for sql in indexes:
        op.execute(sql)
