"""Arrow tables in and out of PostgreSQL by COPY, as CSV that Arrow writes and reads in C++.

Row by row through SQLAlchemy (or psycopg's own row adaptation) cost more than the work
around it for the monthly publication's hundreds of thousands of rows.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import pyarrow as pa
import pyarrow.csv as pa_csv
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

# Rows per CSV block sent: large enough that a block's overhead does not count, small
# enough that only one block's text is held at once.
COPY_CHUNK = 50_000


def copy_in(
    connection: Connection,
    table_name: str,
    rows: pa.Table,
    constants: Mapping[str, str] | None = None,
) -> None:
    """COPY `rows` (their column names are the table's) into `table_name`, in the caller's
    transaction; each of `constants` (column -> text) is the same on every row and is added
    a block at a time rather than held for the whole table."""
    import psycopg  # only a PostgreSQL store needs it

    fixed = dict(constants or {})
    names = ", ".join((*fixed, *rows.column_names))
    options = pa_csv.WriteOptions(include_header=False, batch_size=COPY_CHUNK)
    statement = f"COPY {table_name} ({names}) FROM STDIN (FORMAT csv)"
    driver = connection.connection.driver_connection
    assert isinstance(driver, psycopg.Connection)  # the only PostgreSQL driver connect() takes
    cursor = driver.cursor()
    try:
        with cursor.copy(statement) as copy:
            for batch in rows.to_batches(COPY_CHUNK):
                block = pa.Table.from_batches([batch], rows.schema)
                for i, (name, value) in enumerate(fixed.items()):
                    column = pa.array([value] * batch.num_rows, pa.string())
                    block = block.add_column(i, name, column)
                # Strings quoted (quotes doubled), nulls empty: how COPY's CSV tells an
                # empty string from a null.
                sink = pa.BufferOutputStream()
                pa_csv.write_csv(block, sink, options)
                copy.write(sink.getvalue())
    except psycopg.Error as error:
        # As SQLAlchemy would raise it (IntegrityError for a duplicate row...).
        raise DBAPIError.instance(statement, None, error, psycopg.Error) from error
    finally:
        cursor.close()


def copy_out(
    connection: Connection, query: str, parameters: Sequence[object], schema: pa.Schema
) -> pa.Table:
    """The rows of `query` (its `{}` placeholders bound to `parameters` by the client, as
    COPY takes no server-side parameters) as a table of `schema`."""
    import psycopg
    from psycopg import sql

    driver = connection.connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    bound = sql.SQL(query).format(*(sql.Literal(p) for p in parameters))
    statement = sql.SQL("COPY ({}) TO STDOUT (FORMAT csv)").format(bound)
    buffer = io.BytesIO()
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for data in copy:
            buffer.write(data)
    if buffer.tell() == 0:
        return schema.empty_table()
    buffer.seek(0)
    return pa_csv.read_csv(
        buffer,
        read_options=pa_csv.ReadOptions(column_names=schema.names),
        convert_options=pa_csv.ConvertOptions(
            column_types=schema, strings_can_be_null=False, quoted_strings_can_be_null=False
        ),
    )
