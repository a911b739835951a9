"""A month's snapshots in a partition of their own, on PostgreSQL (migration 0029).

A month published for the first time is loaded into a new table, its key index built once
over the loaded rows, and the table attached as the month's partition: all in the
publication's transaction, so readers see the whole month or none of it, as before. A month
some partition already holds (published before with another model, or among the months
published before the partitions) is written into the partitioned table as any insert is.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from kaimen.domain.months import is_month

PARENT = "score_snapshots"


def partition_name(month: str) -> str:
    """The table of a month published for the first time: `score_snapshots_2026_10`."""
    return f"{PARENT}_{month.replace('-', '_')}"


def not_a_month_table(name: str | None, kind: str, parents: object) -> bool:
    """Alembic's `include_name`: everything but the months' tables, which publications make
    and the metadata does not list (so autogenerate never proposes dropping them)."""
    return not (kind == "table" and name is not None and name.startswith(f"{PARENT}_"))


def _held(connection: Connection, month: str) -> bool:
    """Whether a partition already holds `month` (its bounds name it, quoted)."""
    bounds = connection.execute(
        text(
            "SELECT pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits AS i "
            "JOIN pg_class AS c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = CAST(:parent AS regclass)"
        ),
        {"parent": PARENT},
    ).scalars()
    return any(f"'{month}'" in bound for bound in bounds)


def new_month_table(connection: Connection, month: str) -> str | None:
    """An empty table for `month`'s snapshots, to load and then `attach`; None when a
    partition already holds the month (write into `PARENT`). ValueError for a month not
    written YYYY-MM: it becomes part of a table's name."""
    if not is_month(month):
        raise ValueError(f"not a month: {month!r}")
    if _held(connection, month):
        return None
    name = partition_name(month)
    # The check lets ATTACH trust the rows instead of reading them all again.
    connection.exec_driver_sql(
        f"CREATE TABLE {name} (LIKE {PARENT} INCLUDING DEFAULTS INCLUDING CONSTRAINTS, "
        f"CONSTRAINT {name}_month CHECK (month = '{month}'))"
    )
    return name


def attach(connection: Connection, name: str, month: str) -> None:
    """Build the loaded table's key (one sorted pass) and make it the month's partition."""
    connection.exec_driver_sql(
        f"ALTER TABLE {name} ADD CONSTRAINT {name}_key UNIQUE (person_id, month, model_version)"
    )
    connection.exec_driver_sql(
        f"ALTER TABLE {PARENT} ATTACH PARTITION {name} FOR VALUES IN ('{month}')"
    )
