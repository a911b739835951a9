"""A month's score-change alerts raised on SQLite on top of months of alerts, keyed by the
person (before migration 0031) and by the run (since).

PYTHONPATH=src .venv/bin/python benchmarks/alert_key.py --people 1000000 --history 1,6,12

Two real stores: one at the newest migration, one taken back to 0030. Each is given the same
history a month at a time, as the batch and ingestion raise it (a month's negative items,
358,000 in the 1M world, and its score changes, 213,000), then the next month's score
changes are raised through `alerts.raise_for_rows` as the publication raises them (a new
run: no repeats looked for) and committed; the time is the insert and the commit, and the
log it wrote. Results go to benchmarks/results/alert_key.json and .md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
from sqlalchemy import Engine

from kaimen.store import alerts
from snapshot_key import checkpoint, fresh_store, write_runs

RESULTS = Path(__file__).parent / "results"
MODEL = "scorecard-2026-10-f5f50983"
NOW = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def _month(index: int) -> str:
    year, month = divmod(index, 12)
    return f"{2025 + year:04d}-{month + 1:02d}"


def _rows(people: int, share: float, ref: object, seed: int) -> pa.Table:
    """Alerts for a random `share` of the people, in person order; `ref` a text for all of
    them (a run) or a callable of the row numbers (an event each)."""
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(people, int(people * share), replace=False))
    ids = [f"S0007-{i:08d}" for i in chosen.tolist()]
    refs = ref(chosen) if callable(ref) else [str(ref)] * len(ids)
    details = [
        f'{{"month":"x","from_score":{600 + i % 90},"to_score":640}}' for i in range(len(ids))
    ]
    return pa.table(
        {"person_id": ids, "ref": refs, "details": details}, schema=alerts.ALERT_ROWS_SCHEMA
    )


_FILES: dict[int, Path] = {}  # each engine's database file, by the engine's id


def _store(path: Path, back_to: str | None) -> Engine:
    engine = fresh_store(path, back_to)
    _FILES[id(engine)] = path
    return engine


def _raise(engine: Engine, kind: alerts.AlertKind, rows: pa.Table) -> tuple[float, float]:
    """Seconds to raise and commit `rows`, and the MB of log the transaction left."""
    start = time.perf_counter()
    with engine.begin() as store:
        store.exec_driver_sql("PRAGMA wal_autocheckpoint=0")
        alerts.raise_for_rows(store, kind, rows, NOW, new=kind is alerts.AlertKind.SCORE_CHANGE)
    took = time.perf_counter() - start
    wal = _FILES[id(engine)].with_name(f"{_FILES[id(engine)].name}-wal")
    logged = wal.stat().st_size / 1e6 if wal.exists() else 0.0
    checkpoint(engine)
    return took, logged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--history", default="1,6,12", help="months of alerts before, each")
    parser.add_argument("--score-changes", type=float, default=0.213, help="share a month")
    parser.add_argument("--negative-items", type=float, default=0.358, help="share a month")
    parser.add_argument("--work", type=Path, default=Path("/tmp/kaimen-alert-key"))
    parser.add_argument("--results", default="alert_key")
    options = parser.parse_args()
    marks = sorted({int(h) for h in options.history.split(",")})
    shutil.rmtree(options.work, ignore_errors=True)
    options.work.mkdir(parents=True)
    stores = {
        "by run (0031)": _store(options.work / "by_run.sqlite", None),
        "by person (0030)": _store(options.work / "by_person.sqlite", "0030"),
    }
    results: list[dict[str, object]] = []
    done = 0
    for mark in marks:
        while done < mark:  # the history, raised as the batch and ingestion raise it
            month = _month(done)
            negative = _rows(
                options.people,
                options.negative_items,
                lambda rows, m=month: [f"bank/{m}-{r}" for r in rows.tolist()],
                2 * done,
            )
            changes = _rows(options.people, options.score_changes, f"{month}/{MODEL}", 2 * done + 1)
            for engine in stores.values():
                _raise(engine, alerts.AlertKind.NEGATIVE_ITEM, negative)
                _raise(engine, alerts.AlertKind.SCORE_CHANGE, changes)
            done += 1
        month = _month(mark)
        changes = _rows(options.people, options.score_changes, f"{month}/{MODEL}", 999)
        negative = _rows(
            options.people,
            options.negative_items,
            lambda rows, m=month: [f"bank/{m}-{r}" for r in rows.tolist()],
            998,
        )
        row: dict[str, object] = {"history_months": mark, "alerts": changes.num_rows}
        for name, engine in stores.items():
            took, logged = _raise(engine, alerts.AlertKind.SCORE_CHANGE, changes)
            with engine.begin() as store:
                store.exec_driver_sql(f"DELETE FROM alerts WHERE ref = '{month}/{MODEL}'")
            checkpoint(engine)
            # A file's negative items, as ingestion raises them: keyed by the person in both.
            items, items_logged = _raise(engine, alerts.AlertKind.NEGATIVE_ITEM, negative)
            with engine.begin() as store:
                store.exec_driver_sql(f"DELETE FROM alerts WHERE ref LIKE 'bank/{month}-%'")
            checkpoint(engine)
            row[name] = {
                "seconds": round(took, 2),
                "log_mb": round(logged),
                "negative_items_seconds": round(items, 2),
                "negative_items_log_mb": round(items_logged),
            }
            print(mark, name, row[name], flush=True)
        results.append(row)
    when = write_runs(stores, options.results, options.people, results)
    lines = [
        "# A month's score-change alerts raised on SQLite, by the key's order",
        "",
        f"{options.people:,} people; {os.cpu_count()} cores; {when}. "
        f"`python benchmarks/alert_key.py --people {options.people} "
        f"--history {options.history}`.",
        "",
        "Each month of history raises a share of the people's negative items "
        f"({options.negative_items}) and score changes ({options.score_changes}); then the "
        "next month's score changes are raised as the publication raises them "
        "(`alerts.raise_for_rows`, a new run) and committed, in a store at the newest "
        "migration (score changes keyed by run) and one taken back to 0030 (every alert keyed "
        "by the person). Seconds for the insert and its commit; MB of SQLite's log written. "
        "Then, apart, a file's negative items raised as ingestion raises them (keyed by the "
        "person in both stores; at 0031 that key no longer holds the score changes).",
        "",
        "| months before | alerts before | score changes by run (s) | log (MB) "
        "| by person (s) | log (MB) | negative items at 0031 (s) | log (MB) "
        "| at 0030 (s) | log (MB) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    per_month = int(options.people * options.negative_items) + int(
        options.people * options.score_changes
    )
    for row in results:
        months = row["history_months"]
        assert isinstance(months, int)
        cells = [str(months), f"{months * per_month:,}"]
        for name in stores:
            measured = row[name]
            assert isinstance(measured, dict)
            cells += [str(measured["seconds"]), str(measured["log_mb"])]
        for name in stores:
            measured = row[name]
            assert isinstance(measured, dict)
            cells += [
                str(measured["negative_items_seconds"]),
                str(measured["negative_items_log_mb"]),
            ]
        lines.append("| " + " | ".join(cells) + " |")
    (RESULTS / f"{options.results}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
