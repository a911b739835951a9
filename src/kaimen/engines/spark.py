"""The Spark engine (`pip install 'kaimen[spark]'`, `KAIMEN_ENGINE=spark`): the same Ibis
expressions as the embedded engine, run by PySpark on a local session or a cluster.

One SparkSession per process (Spark's own rule); every backend handed out wraps it. The
session works in UTC, shows no UI and writes Parquet timestamps as plain microseconds (not
Spark's legacy INT96), so DuckDB and Spark read each other's files as the same columns.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from kaimen.domain.errors import ConfigurationError
from kaimen.engines.choice import SparkOptions

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# Spark's own chatter (JVM start-up, stage progress) stays out of a command's output.
LOG_LEVEL = "ERROR"


def session(options: SparkOptions) -> SparkSession:
    """The process's SparkSession, started with `options` on first use."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ConfigurationError(
            "KAIMEN_ENGINE=spark needs PySpark: pip install 'kaimen[spark]'"
        ) from None
    builder = (
        SparkSession.builder.master(options.master)
        .appName("kaimen")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC")
        .config("spark.executor.extraJavaOptions", "-Duser.timezone=UTC")
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .config("spark.sql.parquet.compression.codec", "zstd")
        # Results reach Python (features for scoring) as Arrow batches, not row by row.
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
    )
    if options.shuffle_partitions:
        builder = builder.config("spark.sql.shuffle.partitions", str(options.shuffle_partitions))
    if options.driver_memory:
        builder = builder.config("spark.driver.memory", options.driver_memory)
    try:
        spark = builder.getOrCreate()
    except RuntimeError as error:  # PySpark's own errors when no JVM starts
        raise ConfigurationError(
            f"Spark could not start at {options.master!r} (is Java 17 or later installed?)"
        ) from error
    spark.sparkContext.setLogLevel(LOG_LEVEL)
    return spark


def ibis_connection(options: SparkOptions) -> ibis.BaseBackend:
    """An Ibis backend on the process's SparkSession."""
    spark = session(options)  # first: a missing PySpark is a configuration error
    return ibis.pyspark.connect(spark)


def read_parquet(backend: ibis.BaseBackend, paths: Sequence[Path]) -> ir.Table:
    """The rows of the listed Parquet files (not a folder or a glob: the manifest's list)."""
    spark: SparkSession = backend._session
    # Spark reads each path as a glob; escaping keeps a lake root with `[` or `*` literal.
    frame = spark.read.parquet(*(_literal(p) for p in paths))
    name = f"kaimen_files_{uuid.uuid4().hex}"
    frame.createOrReplaceTempView(name)
    return backend.table(name)


def _typed(backend: ibis.BaseBackend, expression: ir.Table) -> DataFrame:
    """The expression as a Spark DataFrame whose columns have the expression's types.

    Spark types some results its own way (a decimal sum as decimal(28, s), a CASE of small
    integers as int): cast back, files and tables from either engine have the same columns.
    """
    from ibis.backends.pyspark.datatypes import PySparkType
    from pyspark.sql.functions import col

    spark: SparkSession = backend._session
    # In-memory tables (the enrolled people) become Spark views before the SQL names them,
    # as Ibis's own execute would do.
    backend._run_pre_execute_hooks(expression)
    return spark.sql(backend.compile(expression)).select(
        *(
            col(f"`{name}`").cast(PySparkType.from_ibis(dtype)).alias(name)
            for name, dtype in expression.schema().items()
        )
    )


def to_arrow(backend: ibis.BaseBackend, expression: ir.Table) -> pa.Table:
    """The rows as Arrow, straight from Spark's Arrow batches (no pandas on the way)."""
    table: pa.Table = _typed(backend, expression).toArrow()
    return table.cast(expression.schema().to_pyarrow())


def write_parquet(backend: ibis.BaseBackend, expression: ir.Table, target: Path) -> None:
    """Write the rows of `expression` as the one Parquet file `target`.

    Spark writes a folder of part files; the rows are gathered into one part (after the
    aggregation has run in parallel) and that file is moved to `target`, so the lake keeps
    one file per manifest row whichever engine wrote it.
    """
    frame = _typed(backend, expression)
    folder = target.with_name(target.name + ".spark")
    try:
        frame.repartition(1).write.mode("error").parquet(str(folder))
        (part,) = folder.glob("part-*.parquet")
        part.replace(target)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _literal(path: Path) -> str:
    text = str(path)
    for special in "\\[]{}*?":
        text = text.replace(special, "\\" + special)
    return text
