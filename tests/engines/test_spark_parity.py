"""The same month on DuckDB and on Spark: identical summaries, features and scores.

Two private copies of the seeded population (SQLite) over the same lake files: one
summarised by DuckDB (as the population was built), one whose summaries are dropped and made
again by Spark `local[2]` through the production path (manifest, Spark's own Parquet writer,
the atomic placement). Then each builds its features and scores the month with its engine.
One SparkSession serves the whole module.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from sqlalchemy import delete, select

from kaimen.engines.choice import EngineChoice, SparkOptions
from kaimen.engines.embedded import ibis_connection
from kaimen.features.build import build_features
from kaimen.features.summary_build import refresh_summaries
from kaimen.scoring.batch import score_month
from kaimen.scoring.lake_summaries import summary_paths
from kaimen.store.tables import score_snapshots, summarised_lake_files, summary_files
from tests.conftest import NOW
from tests.population import LAST, Population, Populations, World

pytestmark = pytest.mark.spark

SPARK = SparkOptions(master="local[2]", shuffle_partitions=2)


@pytest.fixture(scope="module")
def spark_backend() -> object:
    pytest.importorskip("pyspark", reason="PySpark is not installed: pip install 'kaimen[spark]'")
    if shutil.which("java") is None and not Path(_java_home(), "bin", "java").exists():
        pytest.skip("Spark needs Java (17 or later) and none is on PATH or in JAVA_HOME")
    return EngineChoice("spark", SPARK).connect()


def _java_home() -> str:
    import os

    return os.environ.get("JAVA_HOME", "/nonexistent")


@pytest.fixture(scope="module")
def on_duckdb(populations: Populations, spark_backend: object) -> Iterator[World]:
    # Asks for Spark first: without it the module is skipped before any population is copied.
    with populations.copy("trained", "sqlite") as population, population.opened() as world:
        yield world


@pytest.fixture(scope="module")
def on_spark(populations: Populations, spark_backend: object, on_duckdb: World) -> Iterator[World]:
    with populations.copy("trained", "sqlite") as population, population.opened() as world:
        _forget_summaries(population, world)
        report = refresh_summaries(world.engine, spark_backend, world.lake, NOW)  # type: ignore[arg-type]
        assert report.lake_files > 0
        yield world


def _forget_summaries(population: Population, world: World) -> None:
    """As if no summary had been made: the Spark copy summarises every lake file itself."""
    paths = summary_paths(world.engine, world.lake)
    with world.engine.begin() as store:
        store.execute(delete(summarised_lake_files))
        store.execute(delete(summary_files))
    for path in paths:
        path.unlink()
    assert summary_paths(world.engine, world.lake) == []


def _types(table: pa.Table) -> list[tuple[str, pa.DataType]]:
    return [(field.name, field.type) for field in table.schema]


def _sorted(table: pa.Table, keys: list[str]) -> pa.Table:
    return table.sort_by([(k, "ascending") for k in keys])


def test_the_summaries_are_identical(on_duckdb: World, on_spark: World) -> None:
    keys = ["person_id", "occurred_month", "known_month"]
    duck = pa.concat_tables(
        pq.read_table(p) for p in summary_paths(on_duckdb.engine, on_duckdb.lake)
    )
    (written,) = summary_paths(on_spark.engine, on_spark.lake)
    spark = pq.read_table(written)
    assert duck.num_rows > 1000
    # The same columns and types (Spark marks fewer columns as never null: not a difference).
    assert _types(spark) == _types(duck)
    assert _sorted(spark.cast(duck.schema), keys).equals(_sorted(duck, keys))


def test_the_features_are_identical(
    on_duckdb: World, on_spark: World, spark_backend: object
) -> None:
    duck = build_features(ibis_connection(), summary_paths(on_duckdb.engine, on_duckdb.lake), LAST)
    spark = build_features(
        spark_backend,  # type: ignore[arg-type]
        summary_paths(on_spark.engine, on_spark.lake),
        LAST,
    )
    assert duck.num_rows > 1000
    assert _types(spark) == _types(duck)
    assert spark.cast(duck.schema).equals(duck)
    # Not a vacuous match: the features vary across people and some are missing.
    assert pc.count_distinct(duck.column("late_repayments_12m")).as_py() > 1
    assert pc.count_distinct(duck.column("on_time_share_12m")).as_py() > 10


def test_the_scores_are_identical(on_duckdb: World, on_spark: World, spark_backend: object) -> None:
    score_month(on_duckdb.engine, ibis_connection(), on_duckdb.lake, LAST, "test", NOW)
    score_month(on_spark.engine, spark_backend, on_spark.lake, LAST, "test", NOW)  # type: ignore[arg-type]
    c = score_snapshots.c
    query = select(
        c.person_id,
        c.score,
        c.band,
        c.thin_file,
        c.credit_history,
        c.behaviour,
        c.capacity,
        c.identity,
        c.connections,
        c.points,
        c.reasons,
    ).order_by(c.person_id)
    with on_duckdb.engine.connect() as duck, on_spark.engine.connect() as spark:
        duck_rows = duck.execute(query.where(c.month == LAST)).all()
        spark_rows = spark.execute(query.where(c.month == LAST)).all()
    assert len(duck_rows) > 1000
    assert len({row.score for row in duck_rows}) > 10
    assert spark_rows == duck_rows
