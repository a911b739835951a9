"""Which engine runs the pipeline: DuckDB unless the settings say Spark."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from kaimen.config import Settings
from kaimen.domain.errors import ConfigurationError
from kaimen.engines.choice import EngineChoice, SparkOptions


def test_duckdb_is_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAIMEN_ENGINE", raising=False)
    assert Settings(home=tmp_path).pipeline() == EngineChoice("duckdb")
    assert EngineChoice().connect().name == "duckdb"


def test_spark_and_its_options_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAIMEN_ENGINE", "Spark")
    monkeypatch.setenv("KAIMEN_SPARK_MASTER", "spark://driver.example:7077")
    monkeypatch.setenv("KAIMEN_SPARK_DRIVER_MEMORY", "8g")
    monkeypatch.setenv("KAIMEN_SPARK_SHUFFLE_PARTITIONS", "400")
    choice = Settings(home=tmp_path).pipeline()
    assert choice == EngineChoice("spark", SparkOptions("spark://driver.example:7077", "8g", 400))


def test_an_unknown_engine_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAIMEN_ENGINE", "hadoop")
    with pytest.raises(ValueError, match="engine"):
        Settings(home=tmp_path)


def test_spark_without_pyspark_is_a_clear_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As if `kaimen[spark]` were not installed: the import of PySpark fails.
    monkeypatch.setitem(sys.modules, "pyspark", None)
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    with pytest.raises(ConfigurationError, match=r"pip install 'kaimen\[spark\]'"):
        EngineChoice("spark", SparkOptions("local[1]")).connect()
