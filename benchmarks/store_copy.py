"""Copy a SQLite store into a fresh PostgreSQL database, table by table (benchmark setup only).

The monthly batch benchmark builds its world once, on SQLite; the PostgreSQL run needs the
same people, manifests and model in a PostgreSQL store. Rows are read through the tables'
SQLAlchemy types (so timestamps, booleans and JSON come back as Python values) and written
with COPY; serial columns are then moved past the copied ids.
"""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Json
from sqlalchemy import Engine, Integer, select, text

from kaimen.store import score_partitions
from kaimen.store.tables import metadata

CHUNK = 50_000


def _value(value: Any) -> Any:
    return Json(value) if isinstance(value, dict | list) else value


def copy_store(source: Engine, target: Engine) -> dict[str, int]:
    """Every row of every table of `source` into the (migrated, empty) `target`; rows per table."""
    counts: dict[str, int] = {}
    with source.connect() as reading, target.begin() as writing:
        driver = writing.connection.driver_connection
        assert driver is not None
        for table in metadata.sorted_tables:
            names = [c.name for c in table.columns]
            if table.name == score_partitions.PARENT:
                # Each month's rows need its partition (migration 0029), made as a
                # publication makes it.
                months = reading.execute(select(table.c.month).distinct()).scalars()
                for month in months:
                    made = score_partitions.new_month_table(writing, month)
                    if made is not None:
                        score_partitions.attach(writing, made, month)
            result = reading.execution_options(yield_per=CHUNK).execute(select(table))
            count = 0
            with (
                driver.cursor() as cursor,
                cursor.copy(f"COPY {table.name} ({', '.join(names)}) FROM STDIN") as copy,
            ):
                for row in result:
                    copy.write_row([_value(v) for v in row])
                    count += 1
            counts[table.name] = count
            for column in table.primary_key.columns:
                if isinstance(column.type, Integer) and column.autoincrement in (True, "auto"):
                    writing.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{table.name}', "
                            f"'{column.name}'), coalesce(max({column.name}), 0) + 1, false) "
                            f"FROM {table.name}"
                        )
                    )
    return counts
