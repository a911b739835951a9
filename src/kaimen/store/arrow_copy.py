"""Arrow tables in and out of PostgreSQL by COPY: in as COPY text that Arrow joins, out as
CSV that Arrow reads, both in C++.

Row by row through SQLAlchemy (or psycopg's own row adaptation) cost more than the work
around it for the monthly publication's hundreds of thousands of rows.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql

# Rows per block of COPY text sent: large enough that a block's overhead does not count,
# small enough that only one block's text is held at once.
COPY_CHUNK = 50_000


# COPY's text format: a field's backslashes, tabs, newlines and carriage returns escaped, a
# null as \N. Nothing else is special, so JSON text (which has no raw tabs or newlines) and
# quotes go as they are.
_ESCAPES = (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"))
_SPECIAL = tuple(raw.encode() for raw, _ in _ESCAPES)
_NULL = "\\N"


def _value_bytes(strings: pa.Array) -> pa.Buffer:
    """The bytes of a string array's values, for its own slice of a shared buffer."""
    offsets, data = strings.buffers()[1:3]
    if data is None or len(strings) == 0:
        return pa.py_buffer(b"")
    width = np.int64 if pa.types.is_large_string(strings.type) else np.int32
    ends = np.frombuffer(offsets, dtype=width, count=strings.offset + len(strings) + 1)
    first, last = int(ends[strings.offset]), int(ends[-1])
    return data.slice(first, last - first)


def _text_field(column: pa.Array) -> pa.Array:
    """One column as COPY text fields."""
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        # Looked for in the values' bytes (memchr) before any escaping pass, each of which
        # copies the column: the rows written here almost never hold one.
        raw = _value_bytes(column).to_pybytes()
        if any(special in raw for special in _SPECIAL):
            for special, escaped in _ESCAPES:
                column = pc.replace_substring(column, special, escaped)
    else:
        column = pc.cast(column, pa.string())
    return pc.fill_null(column, _NULL)


def _escaped(value: str) -> str:
    for special, escaped in _ESCAPES:
        value = value.replace(special, escaped)
    return value


def copy_text(batch: pa.RecordBatch, constants: Mapping[str, str]) -> pa.Buffer:
    """`batch` as the bytes of COPY's text format, `constants` first on every line: each
    row's fields joined by Arrow in C++, never a row in Python. (Arrow's CSV writer spent two
    seconds a million snapshots doubling the quotes in their JSON.)"""
    parts: list[pa.Array | str] = []
    for value in constants.values():
        parts += [_escaped(value), "\t"]
    for column in batch.columns:
        parts += [_text_field(column), "\t"]
    parts[-1] = "\n"
    return _value_bytes(pc.binary_join_element_wise(*parts, ""))


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
    statement = f"COPY {table_name} ({names}) FROM STDIN"
    driver = connection.connection.driver_connection
    assert isinstance(driver, psycopg.Connection)  # the only PostgreSQL driver connect() takes
    cursor = driver.cursor()
    try:
        with cursor.copy(statement) as copy:
            for batch in rows.to_batches(COPY_CHUNK):
                if batch.num_rows:
                    copy.write(copy_text(batch, fixed))
    except psycopg.Error as error:
        # As SQLAlchemy would raise it (IntegrityError for a duplicate row...).
        raise DBAPIError.instance(statement, None, error, psycopg.Error) from error
    finally:
        cursor.close()


def _csv_field(name: str, field: pa.Field) -> sql.Composable:
    """A column of the query as a CSV field: strings quoted (quotes doubled), so that an
    empty string is "" and a null is nothing."""
    from psycopg import sql

    column = sql.SQL("q.{}").format(sql.Identifier(name))
    if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
        return sql.SQL(
            """CASE WHEN {c} IS NULL THEN '' ELSE '"' || replace({c}::text, '"', '""') || '"' END"""
        ).format(c=column)
    return sql.SQL("coalesce({}::text, '')").format(column)


# The rows joined into one CSV text in the server (`line`: a row's fields).
AGGREGATE = "SELECT string_agg({line}, E'\\n') FROM ({query}) AS q"


def copy_out(
    connection: Connection, query: str, parameters: Sequence[object], schema: pa.Schema
) -> pa.Table:
    """The rows of `query` (its `{}` placeholders bound to `parameters` by the client; its
    columns named as `schema`'s) as a table of `schema`, in no particular order.

    The server joins the rows into one CSV text: read by COPY, each row was a message of its
    own, and psycopg's Python handled a million of them (a second for a million scores,
    against 0.45 s for the server to join them). Beyond what one text value can hold (1 GB:
    tens of millions of rows) the rows come by COPY after all."""
    import psycopg
    from psycopg import errors, sql

    driver = connection.connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    bound = sql.SQL(query).format(*(sql.Literal(p) for p in parameters))
    line = sql.SQL(" || ',' || ").join(_csv_field(f.name, f) for f in schema)
    statement = sql.SQL(AGGREGATE).format(line=line, query=bound)
    # A failed statement spoils the caller's transaction; the savepoint keeps it usable.
    guarded = not driver.autocommit
    with driver.cursor() as cursor:
        if guarded:
            cursor.execute("SAVEPOINT kaimen_copy_out")
        try:
            row = cursor.execute(statement).fetchone()
        except (errors.ProgramLimitExceeded, errors.OutOfMemory):
            if guarded:
                cursor.execute("ROLLBACK TO SAVEPOINT kaimen_copy_out")
            return _read_csv(_copied(driver, bound), schema)
        if guarded:
            cursor.execute("RELEASE SAVEPOINT kaimen_copy_out")
    text = None if row is None else row[0]
    return _read_csv(io.BytesIO(text.encode()), schema) if text else schema.empty_table()


def _copied(driver: psycopg.Connection[Any], query: sql.Composable) -> io.BytesIO:
    """The rows of `query` as CSV, by COPY: a message a row."""
    from psycopg import sql

    statement = sql.SQL("COPY ({}) TO STDOUT (FORMAT csv)").format(query)
    buffer = io.BytesIO()
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for data in copy:
            buffer.write(data)
    buffer.seek(0)
    return buffer


def _read_csv(data: io.BytesIO, schema: pa.Schema) -> pa.Table:
    if data.getbuffer().nbytes == 0:
        return schema.empty_table()
    return pa_csv.read_csv(
        data,
        read_options=pa_csv.ReadOptions(column_names=schema.names),
        parse_options=pa_csv.ParseOptions(newlines_in_values=True),
        convert_options=pa_csv.ConvertOptions(
            column_types=schema, strings_can_be_null=True, quoted_strings_can_be_null=False
        ),
    )
