"""The two sides of a linkage, checked and turned into the columns the model compares.

Court entries (`ENTRY_COLUMNS`):
- `entry_key` (string, unique, not null): the caller's key for the entry;
- `name` (string, nullable): Hanzi or Pinyin in any common spelling;
- `id_number` (string, nullable): the 18-character number, complete or masked with `*`
  (`110101********123X`); whatever is masked is simply unknown;
- `birth_date` (date, nullable).

Enrolled people (`PEOPLE_COLUMNS`):
- `person_id` (string, unique, not null);
- `name` (string, nullable);
- `national_id` (string, not null): the full 18-character number;
- `birth_date` (date, nullable; taken from the number when missing).

Both become rows of `unique_id`, the name columns of `kaimen.matching.names`, and, from the
ID number where its characters are visible: `id_region` (digits 1-6), `id_tail` (the last
four: sequence and check character), `gender` (`m`/`f` from the 17th digit), and the birth
date (`birth_text` as YYYYMMDD and `birth_year`), the given one first, else the number's.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from kaimen.domain.errors import Rejected
from kaimen.matching.names import normalise_names

ENTRY_COLUMNS = ("entry_key", "name", "id_number", "birth_date")
PEOPLE_COLUMNS = ("person_id", "name", "national_id", "birth_date")
MODEL_COLUMNS = (
    "unique_id",
    "name_hanzi",
    "name_pinyin",
    "name_unordered",
    "surname",
    "id_region",
    "id_tail",
    "gender",
    "birth_text",
    "birth_year",
)


def _require(table: pa.Table, columns: tuple[str, ...], side: str, key: str) -> pa.Table:
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise Rejected(f"{side} table lacks column(s) {', '.join(missing)}")
    table = table.select(list(columns))
    for column in columns:
        wanted = pa.date32() if column == "birth_date" else pa.string()
        if table.schema.field(column).type != wanted:
            try:
                table = table.set_column(
                    columns.index(column), column, pc.cast(table[column], wanted)
                )
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
                raise Rejected(f"{side} column {column} must be {wanted}") from error
    if table[key].null_count:
        raise Rejected(f"{side} column {key} has empty values")
    if pc.count_distinct(table[key]).as_py() != table.num_rows:
        raise Rejected(f"{side} column {key} repeats a value")
    return table


# One expression per derived column, over a relation with `id_text` (upper case, trimmed).
_ID_PARTS = """
    CASE WHEN length(id_text) = 18 AND regexp_full_match(id_text[1:6], '[0-9]{6}')
         THEN id_text[1:6] END AS id_region,
    CASE WHEN length(id_text) = 18 AND regexp_full_match(id_text[15:18], '[0-9]{3}[0-9X]')
         THEN id_text[15:18] END AS id_tail,
    CASE WHEN length(id_text) = 18 AND regexp_full_match(id_text[17:17], '[0-9]')
         THEN CASE WHEN CAST(id_text[17:17] AS INTEGER) % 2 = 1 THEN 'm' ELSE 'f' END
    END AS gender,
    CASE WHEN length(id_text) = 18 AND regexp_full_match(id_text[7:14], '[0-9]{8}')
         THEN CAST(try_strptime(id_text[7:14], '%Y%m%d') AS DATE) END AS id_birth
"""


def _comparable(
    connection: duckdb.DuckDBPyConnection, table: pa.Table, key: str, id_column: str
) -> pa.Table:
    names = normalise_names(table["name"])
    source = pa.table(
        {"unique_id": table[key], "id_text": table[id_column], "given_birth": table["birth_date"]}
        | {c: names[c] for c in names.column_names}
    )
    connection.register("linkage_source", source)
    try:
        return connection.sql(
            f"""
            WITH cleaned AS (
                SELECT * REPLACE (upper(trim(id_text)) AS id_text) FROM linkage_source
            ), parts AS (SELECT *, {_ID_PARTS} FROM cleaned)
            SELECT unique_id, name_hanzi, name_pinyin, name_unordered, surname,
                   id_region, id_tail, gender,
                   strftime(coalesce(given_birth, id_birth), '%Y%m%d') AS birth_text,
                   year(coalesce(given_birth, id_birth)) AS birth_year
            FROM parts
            """
        ).to_arrow_table()
    finally:
        connection.unregister("linkage_source")


def comparable_entries(connection: duckdb.DuckDBPyConnection, entries: pa.Table) -> pa.Table:
    """Court entries as model columns; raises `Rejected` for a missing or mistyped column."""
    checked = _require(entries, ENTRY_COLUMNS, "court entries", "entry_key")
    return _comparable(connection, checked, "entry_key", "id_number")


def comparable_people(connection: duckdb.DuckDBPyConnection, people: pa.Table) -> pa.Table:
    """Enrolled people as model columns; raises `Rejected` for a missing or mistyped column."""
    checked = _require(people, PEOPLE_COLUMNS, "enrolled people", "person_id")
    if checked["national_id"].null_count:
        raise Rejected("enrolled people column national_id has empty values")
    return _comparable(connection, checked, "person_id", "national_id")
