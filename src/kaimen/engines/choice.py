"""Which engine runs the pipeline's expressions, as the settings chose it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import ibis

EngineName = Literal["duckdb", "spark"]


@dataclass(frozen=True)
class SparkOptions:
    """Where Spark runs: `local[N]` in this process, or a cluster's master URL."""

    master: str = "local[*]"
    driver_memory: str | None = None
    # None: Spark's default (200), which adaptive execution coalesces for small stages.
    shuffle_partitions: int | None = None


@dataclass(frozen=True)
class EngineChoice:
    name: EngineName = "duckdb"
    spark: SparkOptions = field(default_factory=SparkOptions)

    def connect(self) -> ibis.BaseBackend:
        """A fresh backend on the chosen engine (PySpark only if Spark was chosen)."""
        if self.name == "spark":
            from kaimen.engines.spark import ibis_connection as spark_connection

            return spark_connection(self.spark)
        from kaimen.engines.embedded import ibis_connection

        return ibis_connection()
