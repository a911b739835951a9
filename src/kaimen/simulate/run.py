"""`kaimen simulate`: write a population and its events to a folder.

The folder gets `people.csv` (person_id, phone, national_id, name: the enrolment file; names
from `kaimen.simulate.names`, so court listings can be matched to people by name),
`events.parquet` (or .csv / .jsonl), `traits.parquet` (latent traits, ground truth only) and
`simulation.json` (parameters and counts). The same arguments always give the same files.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from kaimen.simulate.behaviour import EVENT_SCHEMA, US_PER_DAY, Simulator
from kaimen.simulate.names import population_names
from kaimen.simulate.population import make_population

FORMATS = ("parquet", "csv", "jsonl")


@dataclass(frozen=True)
class SimulationSummary:
    people: int
    months: int
    first_month: str
    last_month: str
    seed: int
    events: int
    events_by_kind: dict[str, int]
    people_file: str
    events_file: str


def last_full_month(today: dt.date) -> str:
    first = today.replace(day=1)
    return (first - dt.timedelta(days=1)).strftime("%Y-%m")


class _EventSink:
    """Streams monthly tables into one file of the chosen format."""

    def __init__(self, path: Path, fmt: str) -> None:
        self.path, self.fmt = path, fmt
        self._parquet: pq.ParquetWriter | None = None
        self._csv: pacsv.CSVWriter | None = None
        self._json = path.open("w", encoding="utf-8") if fmt == "jsonl" else None

    def write(self, table: pa.Table) -> None:
        if self.fmt == "parquet":
            if self._parquet is None:
                # lz4 writes several times faster than zstd; the lake recompresses with zstd.
                self._parquet = pq.ParquetWriter(self.path, EVENT_SCHEMA, compression="lz4")
            self._parquet.write_table(table)
        elif self.fmt == "csv":
            if self._csv is None:
                self._csv = pacsv.CSVWriter(self.path, EVENT_SCHEMA)
            self._csv.write_table(table)
        else:
            assert self._json is not None
            text = table.cast(
                pa.schema([pa.field(f.name, pa.string()) for f in EVENT_SCHEMA])
            ).to_pylist()
            for row in text:
                self._json.write(json.dumps({k: v for k, v in row.items() if v is not None}) + "\n")

    def close(self) -> None:
        for handle in (self._parquet, self._csv, self._json):
            if handle is not None:
                handle.close()


def simulate(
    people: int,
    months: int,
    seed: int,
    out: Path,
    last_month: str,
    fmt: str = "parquet",
    progress: Callable[[int, int], None] | None = None,
) -> SimulationSummary:
    """Simulate `people` over the `months` ending with `last_month` (YYYY-MM)."""
    if people < 1 or months < 1:
        raise ValueError("people and months must be at least 1")
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    last = np.datetime64(last_month, "M")
    first = last - (months - 1)
    end = (last + 1).astype("datetime64[D]")
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    population = make_population(rng, people, seed, end.astype(dt.date))
    names = population_names(seed, population.national_id)
    pacsv.write_csv(population.enrolment_table().append_column("name", names), out / "people.csv")
    pq.write_table(population.traits_table(), out / "traits.parquet")
    simulator = Simulator(population, rng, int(end.astype(np.int64)) * US_PER_DAY)
    events_path = out / f"events.{fmt}"
    sink = _EventSink(events_path, fmt)
    by_kind: dict[str, int] = {}
    total = 0
    try:
        for index in range(months):
            table = simulator.month(index, first + index)
            sink.write(table)
            total += table.num_rows
            counts = table.group_by("kind").aggregate([("kind", "count")])
            for kind, count in zip(
                counts.column("kind").to_pylist(),
                counts.column("kind_count").to_pylist(),
                strict=True,
            ):
                by_kind[kind] = by_kind.get(kind, 0) + count
            if progress:
                progress(index + 1, months)
    finally:
        sink.close()
    summary = SimulationSummary(
        people=people,
        months=months,
        first_month=str(first),
        last_month=str(last),
        seed=seed,
        events=total,
        events_by_kind=dict(sorted(by_kind.items())),
        people_file=str(out / "people.csv"),
        events_file=str(events_path),
    )
    (out / "simulation.json").write_text(json.dumps(asdict(summary), indent=2) + "\n")
    return summary
