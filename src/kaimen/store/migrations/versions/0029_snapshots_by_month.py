"""Score snapshots partitioned by month on PostgreSQL.

Publishing a month put a million rows into one table whose key index held every earlier
month: each new entry went next to the person's previous ones, all over an index that grows
by a month of people each month (about 3.5 of a 1M-person publication's 6 seconds). Each
month published from now on is written into a table of its own, its key built once over the
loaded rows and the table attached as the month's partition in the publication's
transaction (`store.score_partitions`). The snapshots already published become one
partition holding their months, attached as they are, without copying a row. SQLite has no
partitions: nothing changes there.

Revision ID: 0029
Revises: 0028
"""

from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None

_EARLIER = "score_snapshots_earlier"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute(f"ALTER TABLE score_snapshots RENAME TO {_EARLIER}")
    op.execute(f"ALTER TABLE {_EARLIER} RENAME CONSTRAINT uq_score_snapshots_key TO {_EARLIER}_key")
    op.execute(
        f"CREATE TABLE score_snapshots (LIKE {_EARLIER} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
        " PARTITION BY LIST (month)"
    )
    op.execute(
        "ALTER TABLE score_snapshots ADD CONSTRAINT uq_score_snapshots_key "
        "UNIQUE (person_id, month, model_version)"
    )
    months = [m for (m,) in bind.exec_driver_sql(f"SELECT DISTINCT month FROM {_EARLIER}")]
    if not months:
        op.execute(f"DROP TABLE {_EARLIER}")
        return
    listed = ", ".join(f"'{m}'" for m in sorted(months))  # months are YYYY-MM (checked)
    op.execute(f"ALTER TABLE score_snapshots ATTACH PARTITION {_EARLIER} FOR VALUES IN ({listed})")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE score_snapshots RENAME TO score_snapshots_partitioned")
    op.execute(
        "ALTER TABLE score_snapshots_partitioned RENAME CONSTRAINT uq_score_snapshots_key "
        "TO score_snapshots_partitioned_key"
    )
    op.execute(
        "CREATE TABLE score_snapshots (LIKE score_snapshots_partitioned "
        "INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
    )
    op.execute("INSERT INTO score_snapshots SELECT * FROM score_snapshots_partitioned")
    op.execute(
        "ALTER TABLE score_snapshots ADD CONSTRAINT uq_score_snapshots_key "
        "UNIQUE (person_id, month, model_version)"
    )
    op.execute("DROP TABLE score_snapshots_partitioned")
