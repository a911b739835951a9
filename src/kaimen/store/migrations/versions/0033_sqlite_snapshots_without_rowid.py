"""SQLite's score snapshots kept in their key: a table WITHOUT ROWID.

A snapshot row was written twice over on SQLite: once in the table (by a rowid nobody reads)
and again, its month, model and person, in the key `uq_score_snapshots_key` that every read
goes through (0030). Kept in the key itself, a month of a million people is 23% fewer bytes
(a row's 238 bytes become 172) and one B-tree to write instead of two; the publication's
rows and its commit took 2.07-2.51 s instead of 2.47-2.94 s (a million rows copied into a
copy of the benchmark's store, each kind three times, alternately). Every read is a search
of that key, as before, now without the second look-up into the table.

The key stays declared as the unique constraint it was (SQLite makes no second index for a
unique constraint on the primary key's columns). PostgreSQL's months are tables of their
own (0029): nothing changes there.

SQLite cannot change a table in place: the table is built again from its own definition,
and the rows copied in key order.

Revision ID: 0033
Revises: 0032
"""

import re

from alembic import op

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None

_KEY = "CONSTRAINT uq_score_snapshots_key UNIQUE (month, model_version, person_id)"
_PRIMARY = ", PRIMARY KEY (month, model_version, person_id)"
_WITHOUT_ROWID = " WITHOUT ROWID"


def _definition() -> str:
    definition: str = (
        op.get_bind()
        .exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'score_snapshots'"
        )
        .scalar_one()
    )
    if _KEY not in definition:
        raise RuntimeError(f"score_snapshots has no key {_KEY!r}: {definition}")
    return definition.rstrip()


def _rebuild(definition: str) -> None:
    bind = op.get_bind()
    indexes = [
        sql
        for (sql,) in bind.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'index' "
            "AND tbl_name = 'score_snapshots' AND sql IS NOT NULL"
        )
    ]
    op.execute(
        re.sub(
            r'^CREATE TABLE\s+"?score_snapshots"?',
            "CREATE TABLE score_snapshots_rebuilt",
            definition,
        )
    )
    op.execute(
        "INSERT INTO score_snapshots_rebuilt SELECT * FROM score_snapshots "
        "ORDER BY month, model_version, person_id"
    )
    op.execute("DROP TABLE score_snapshots")
    op.execute("ALTER TABLE score_snapshots_rebuilt RENAME TO score_snapshots")
    for sql in indexes:
        op.execute(sql)


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    definition = _definition()
    if definition.endswith(_WITHOUT_ROWID):
        raise RuntimeError(f"score_snapshots is already without rowid: {definition}")
    _rebuild(definition.replace(_KEY, _KEY + _PRIMARY) + _WITHOUT_ROWID)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    definition = _definition()
    if not definition.endswith(_WITHOUT_ROWID) or _KEY + _PRIMARY not in definition:
        raise RuntimeError(f"score_snapshots is not keyed as 0033 keys it: {definition}")
    _rebuild(definition.removesuffix(_WITHOUT_ROWID).replace(_KEY + _PRIMARY, _KEY))
