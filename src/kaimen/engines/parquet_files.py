"""Reading a list of Parquet files into an Ibis table, on whichever engine runs it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb
import ibis
import ibis.expr.types as ir
import pyarrow as pa

from kaimen.domain.errors import LakeIncomplete

SPARK = "pyspark"


def read_parquet(backend: ibis.BaseBackend, paths: Sequence[Path]) -> ir.Table:
    """The rows of exactly the listed files (the manifest's list, never a folder's glob)."""
    if backend.name == SPARK:
        from kaimen.engines.spark import read_parquet as read_on_spark

        return read_on_spark(backend, paths)
    try:
        return backend.read_parquet([str(p) for p in paths])
    except duckdb.IOException:
        # Looked for only now, on the error's way: a lake of thousands of files is not
        # checked file by file on every read.
        missing = [p for p in paths if not p.exists()]
        if not missing:
            raise
        raise LakeIncomplete(
            f"{len(missing):,} of the {len(paths):,} lake files the store lists are missing "
            f"(the first: {missing[0]}): restore the lake folder, or point KAIMEN_HOME at the "
            "home it belongs to"
        ) from None


def to_arrow(backend: ibis.BaseBackend, expression: ir.Table) -> pa.Table:
    """The rows of `expression` as Arrow, with the expression's column types."""
    if backend.name == SPARK:
        from kaimen.engines.spark import to_arrow as spark_to_arrow

        return spark_to_arrow(backend, expression)
    return backend.to_pyarrow(expression)
