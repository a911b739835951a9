"""The friend graph and friends' points on Spark equal DuckDB's (and so the domain rule's)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kaimen.domain import profiles
from kaimen.domain.connections import ConnectionsRules
from kaimen.engines.choice import EngineChoice, SparkOptions
from kaimen.engines.embedded import ibis_connection
from kaimen.scoring.connections_added import friends_points_table
from tests.features.test_friend_graph import SCHEMA, _population

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def spark_backend() -> object:
    pytest.importorskip("pyspark", reason="PySpark is not installed: pip install 'kaimen[spark]'")
    if shutil.which("java") is None:
        pytest.skip("Spark needs Java (17 or later) and none is on PATH")
    return EngineChoice("spark", SparkOptions(master="local[2]", shuffle_partitions=2)).connect()


@pytest.mark.parametrize(
    "rules",
    [
        profiles.load("cn").connections,
        ConnectionsRules(allowed=True, cap=12, per_friend=2.7, pivot=700, positive_only=False),
    ],
    ids=["cn", "both-directions"],
)
def test_spark_gives_every_person_the_same_points_as_duckdb(
    rules: ConnectionsRules, spark_backend: object, tmp_path: Path
) -> None:
    rows, bases, lenders, opted = _population(7, 3000)
    path = tmp_path / "events.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), path)
    lending = pa.table(
        {
            "person_id": pa.array(sorted(lenders), pa.string()),
            "base_score": pa.array([bases[p] for p in sorted(lenders)], pa.int64()),
        }
    )
    opted_in = pa.table({"person_id": pa.array(sorted(opted), pa.string())})
    duck = friends_points_table(ibis_connection(), [path], "2026-02", opted_in, lending, rules)
    spark = friends_points_table(
        spark_backend,  # type: ignore[arg-type]
        [path],
        "2026-02",
        opted_in,
        lending,
        rules,
    )
    assert duck.num_rows == len(opted)
    assert spark.equals(duck)
    assert len(set(duck.column("points").to_pylist())) > 3
