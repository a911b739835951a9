"""File paths as DuckDB SQL string literals.

Paths cannot be bound as parameters where DuckDB reads or writes files (`COPY ... TO`,
`read_parquet` lists), so they go into the SQL text: quoted here, once, so that a lake root
with a quote or a space in its name works everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


def sql_path(path: Path | str) -> str:
    """`path` as a single-quoted SQL string literal (quotes inside doubled)."""
    return "'" + str(path).replace("'", "''") + "'"


def sql_path_list(paths: Iterable[Path | str]) -> str:
    """`paths` as a SQL list literal of string literals, for `read_parquet([...])`."""
    return "[" + ", ".join(sql_path(p) for p in paths) + "]"
