"""Reading a list of Parquet files into an Ibis table, on whichever engine runs it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import ibis
import ibis.expr.types as ir
import pyarrow as pa

SPARK = "pyspark"


def read_parquet(backend: ibis.BaseBackend, paths: Sequence[Path]) -> ir.Table:
    """The rows of exactly the listed files (the manifest's list, never a folder's glob)."""
    if backend.name == SPARK:
        from kaimen.engines.spark import read_parquet as read_on_spark

        return read_on_spark(backend, paths)
    return backend.read_parquet([str(p) for p in paths])


def to_arrow(backend: ibis.BaseBackend, expression: ir.Table) -> pa.Table:
    """The rows of `expression` as Arrow, with the expression's column types."""
    if backend.name == SPARK:
        from kaimen.engines.spark import to_arrow as spark_to_arrow

        return spark_to_arrow(backend, expression)
    return backend.to_pyarrow(expression)
