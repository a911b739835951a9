"""Publishing a month of snapshots on SQLite on top of months of history, keyed by person (the
key before migration 0030) and by run (since), against a bare insert of the same rows.

PYTHONPATH=src .venv/bin/python benchmarks/snapshot_key.py --people 1000000 --history 1,6,12

Two real stores: one at the newest migration (key led by the run), one taken back to 0029
(key led by the person). Each is given the same history, a month at a time, then the next
month is published through `score_publishing.publish_table` (the batch's own publication)
and committed; the time is the insert and the commit. The ceiling is the same rows inserted
the same way (`many_rows`) into a table with no key, in the same run: ratio = bare /
publication. The rows are made up with the sizes of real ones (about 160 bytes since 0032:
reasons of four features with their values, points of seven characteristics). Results go to
benchmarks/results/snapshot_key.json and .md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
from sqlalchemy import Engine, insert

from kaimen.domain.snapshots import SNAPSHOT_COLUMNS
from kaimen.store import many_rows, score_publishing
from kaimen.store.database import connect, downgrade, open_store
from kaimen.store.tables import models

RESULTS = Path(__file__).parent / "results"
MODEL = "scorecard-2026-10-f5f50983"
NAMES = ("a", "b", "c", "d", "e", "f", "g")
FIRST = dt.date(2025, 1, 1)


def _month(index: int) -> str:
    year, month = divmod(FIRST.month - 1 + index, 12)
    return f"{FIRST.year + year:04d}-{month + 1:02d}"


def _rows(people: int, seed: int) -> pa.Table:
    """A month's snapshot columns, person ids in order, with real rows' sizes."""
    rng = np.random.default_rng(seed)
    ids = pa.array([f"S0007-{i:08d}" for i in range(people)], pa.string())
    score = rng.integers(400, 900, people)
    share = rng.random(people)
    reasons = [
        # As stored since migration 0032: each characteristic by its place among NAMES.
        f"[[2,{a},{s!r}],[5,32,0.14285714285714285],[3,14,1.0],[6,10,0.0]]"
        for a, s in zip(rng.integers(0, 90, people).tolist(), share.tolist(), strict=True)
    ]
    points = [f"[{p},86,67,81,82,81,76]" for p in rng.integers(50, 200, people).tolist()]
    dimension = pa.array(rng.integers(0, 100, people))
    return pa.table(
        {
            "person_id": ids,
            "score": pa.array(score),
            "band": pa.array(np.where(score < 600, "fair", "good")),
            "thin_file": pa.array(np.zeros(people, dtype=bool)),
            "credit_history": dimension,
            "behaviour": dimension,
            "capacity": dimension,
            "identity": dimension,
            "connections": dimension,
            "reasons": pa.array(reasons, pa.string()),
            "points": pa.array(points, pa.string()),
        }
    )


def fresh_store(path: Path, back_to: str | None) -> Engine:
    """A new SQLite store at `path`, migrated to the newest revision or taken back to
    `back_to` (the key before the one measured)."""
    if path.exists():
        path.unlink()
    url = f"sqlite:///{path}"
    open_store(url).dispose()
    engine = connect(url)
    if back_to is not None:
        downgrade(engine, back_to)
    return engine


def _store(path: Path, back_to: str | None) -> Engine:
    engine = fresh_store(path, back_to)
    with engine.begin() as store:
        store.execute(
            insert(models).values(
                version=MODEL,
                kind="scorecard",
                path="card.json",
                sha256="0" * 64,
                trained_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
                as_of="2026-10",
                metrics="{}",
                champion=1,
            )
        )
        store.exec_driver_sql(
            "CREATE TABLE bare_rows (month TEXT, model_version TEXT, "
            + ", ".join(SNAPSHOT_COLUMNS)
            + ")"
        )
    return engine


def _publish(engine: Engine, month: str, table: pa.Table) -> float:
    start = time.perf_counter()
    with engine.begin() as store:
        score_publishing.publish_table(store, month, MODEL, table, dt.datetime.now(dt.UTC), NAMES)
    return time.perf_counter() - start


def _bare(engine: Engine, month: str, table: pa.Table) -> float:
    """The same rows, the same way, into a table with no key; then emptied again."""
    start = time.perf_counter()
    with engine.begin() as store:
        store.exec_driver_sql(f"PRAGMA cache_size = {score_publishing.PUBLISH_CACHE_KIB}")
        cursor = store.connection.driver_connection.cursor()  # type: ignore[union-attr]
        values = np.empty((table.num_rows, len(SNAPSHOT_COLUMNS) + 2), dtype=object)
        values[:, 0], values[:, 1] = month, MODEL
        for column, name in enumerate(SNAPSHOT_COLUMNS, start=2):
            values[:, column] = table.column(name).to_pylist()
        many_rows.insert(cursor, "INSERT INTO bare_rows", values)
        cursor.close()
    took = time.perf_counter() - start
    with engine.begin() as store:
        store.exec_driver_sql("DELETE FROM bare_rows")
    return took


def checkpoint(engine: Engine) -> None:
    """Empty the store's log into its file, so the next measurement starts from none."""
    with engine.connect() as store:
        store.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        store.exec_driver_sql("PRAGMA wal_autocheckpoint=1000")


def write_runs(stores: dict[str, Engine], name: str, people: int, runs: list[object]) -> str:
    """Close the stores and write the runs as results/`name`.json; when it was measured."""
    for engine in stores.values():
        engine.dispose()
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(
        json.dumps({"people": people, "when": when, "runs": runs}, indent=2) + "\n"
    )
    return when


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--history", default="1,6,12", help="months published before, each")
    parser.add_argument("--work", type=Path, default=Path("/tmp/kaimen-snapshot-key"))
    parser.add_argument("--results", default="snapshot_key")
    options = parser.parse_args()
    marks = sorted({int(h) for h in options.history.split(",")})
    shutil.rmtree(options.work, ignore_errors=True)
    options.work.mkdir(parents=True)
    table = _rows(options.people, 7)
    stores = {
        "by run (0030)": _store(options.work / "by_run.sqlite", None),
        "by person (0029)": _store(options.work / "by_person.sqlite", "0029"),
    }
    results: list[dict[str, object]] = []
    published = 0
    for mark in marks:
        # History up to `mark` months, written as the batch writes it (unmeasured).
        while published < mark:
            for engine in stores.values():
                _publish(engine, _month(published), table)
            published += 1
        for engine in stores.values():
            checkpoint(engine)
        month = _month(mark)
        row: dict[str, object] = {"history_months": mark}
        for name, engine in stores.items():
            bare = _bare(engine, month, table)
            took = _publish(engine, month, table)
            with engine.begin() as store:
                store.exec_driver_sql(f"DELETE FROM score_snapshots WHERE month = '{month}'")
                store.exec_driver_sql(f"DELETE FROM score_runs WHERE month = '{month}'")
            checkpoint(engine)
            row[name] = {"publish_s": round(took, 2), "bare_s": round(bare, 2)}
            row[name]["ratio"] = round(bare / took, 3)  # type: ignore[index]
            print(mark, name, row[name], flush=True)
        results.append(row)
    when = write_runs(stores, options.results, options.people, results)
    lines = [
        "# A month's snapshots published on SQLite, by the key's order",
        "",
        f"{options.people:,} people a month; {os.cpu_count()} cores; {when}. "
        f"`python benchmarks/snapshot_key.py --people {options.people} "
        f"--history {options.history}`.",
        "",
        "Publication (`score_publishing.publish_table`, insert and commit) of the next month "
        "on top of the months already published, in a store keyed by run (migration 0030) "
        "and one taken back to 0029 (keyed by person); the ceiling is the same rows inserted "
        "the same way into a table with no key, right before, in the same store.",
        "",
        "| months before | by run: publish (s) | bare (s) | ratio | by person: publish (s) "
        "| bare (s) | ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in results:
        cells = [str(row["history_months"])]
        for name in stores:
            measured = row[name]
            assert isinstance(measured, dict)
            cells += [str(measured["publish_s"]), str(measured["bare_s"])]
            cells.append(f"**{measured['ratio']}x**")
        lines.append("| " + " | ".join(cells) + " |")
    (RESULTS / f"{options.results}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
