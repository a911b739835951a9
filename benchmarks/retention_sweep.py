"""The retention sweep's lake work (run by hand): finding the negative events past retention,
and rewriting the lake files that hold them, timed against the ceiling of the same work in
the same run.

    PYTHONPATH=src .venv/bin/python benchmarks/retention_sweep.py --sizes 1000000 4000000

Each size writes that many events as lake files (one per month, January 2018 to October 2026,
sorted by person as the lake writer sorts them) for size/200 people: repayments (a quarter of
them late or defaulted, some paid weeks after they were due), rentals, fines issued and paid
with case numbers, judgments entered and satisfied, and purchases. The sweep runs as of
20 November 2026 under `cn` (cutoff 20 November 2021).

Reported, per size:
- find: `lake.expired_events.expired_events` (one query: negatives, their conduct end with the
  resolving events joined, the cutoff), against the ceiling of one scan of the same files
  reading the same columns and keeping the negative and resolving rows (a count);
- locate: `files_holding` (which files hold the expired keys), same ceiling;
- rewrite: `rewrite_without_events` on every file holding an expired event, against the
  ceiling of copying the same files through the same writer (same sort, same compression).
Results go to benchmarks/results/retention_sweep.json/.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import shutil
import tempfile
import time
from pathlib import Path

from kaimen.domain import profiles
from kaimen.engines.embedded import connect
from kaimen.lake import expired_events as lake_expiry
from kaimen.lake.atomic_parquet import DuckDBRows, write_parquet
from kaimen.lake.sql_paths import sql_path, sql_path_list
from kaimen.lake.writer import EVENT_ORDER, rewrite_without_events, write_months
from kaimen.store.retention import EXPIRED_KEYS

ROOT = Path(__file__).resolve().parent
NOW = dt.datetime(2026, 11, 20, 4, 0, tzinfo=dt.UTC)
MONTHS = [f"{y}-{m:02d}" for y in range(2018, 2027) for m in range(1, 13)][:106]

EVENTS_SQL = """
SELECT
    'src' || (i % 7) AS source,
    'e' || i AS event_id,
    'p' || lpad(CAST((i * 7919) % $people AS VARCHAR), 8, '0') AS person_id,
    kind,
    occurred_at,
    occurred_at + INTERVAL 2 DAY AS recorded_at,
    CAST(1 AS SMALLINT) AS schema_version,
    CAST(100 + i % 900 AS DECIMAL(18, 2)) AS amount,
    'CNY' AS currency,
    CASE WHEN kind = 'payment' THEN 'groceries' END AS merchant_category,
    CASE WHEN kind LIKE '%_repayment' THEN CAST(occurred_at AS DATE) END AS due_date,
    CASE WHEN kind LIKE '%_repayment' AND status <> 'defaulted'
        THEN CAST(occurred_at AS DATE) + CAST(i % 60 AS INTEGER) END AS paid_date,
    status,
    CASE WHEN kind IN ('loan_repayment', 'rental') THEN 'partner' END AS partner,
    CASE WHEN kind = 'rental' THEN 'bike' END AS item,
    CASE WHEN kind = 'rental' THEN 'waived' END AS deposit,
    CASE WHEN kind = 'rental' THEN (CASE WHEN i % 9 = 0 THEN 'late' ELSE 'returned' END) END
        AS outcome,
    NULL AS attribute, NULL AS value, NULL AS friend_id, NULL AS action,
    CASE WHEN kind IN ('fine', 'court_judgment') THEN 'C' || (i / 2) END AS case_number,
    CASE WHEN kind = 'court_judgment' THEN 'court' END AS court,
    strftime(occurred_at, '%Y-%m') AS month
FROM (
    SELECT i,
        TIMESTAMPTZ '2018-01-01 00:00:00+00' + to_seconds(
            CAST((i * 2654435761) % 280000000 AS BIGINT)) AS occurred_at,
        CASE i % 10
            WHEN 0 THEN 'loan_repayment' WHEN 1 THEN 'bill_repayment'
            WHEN 2 THEN 'rent_payment' WHEN 3 THEN 'utility_payment'
            WHEN 4 THEN 'rental' WHEN 5 THEN 'fine' WHEN 6 THEN 'court_judgment'
            ELSE 'payment' END AS kind,
        CASE
            WHEN i % 10 < 4 THEN (CASE WHEN i % 4 = 0 THEN 'late'
                WHEN i % 13 = 0 THEN 'defaulted' ELSE 'on_time' END)
            WHEN i % 10 = 5 THEN (CASE WHEN i % 2 = 0 THEN 'issued' ELSE 'paid' END)
            WHEN i % 10 = 6 THEN (CASE WHEN i % 2 = 0 THEN 'entered' ELSE 'satisfied' END)
        END AS status
    FROM range($size) AS r(i)
)
"""


def _best(runs: int, work: object) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(runs):
        start = time.perf_counter()
        result = work()  # type: ignore[operator]
        best = min(best, time.perf_counter() - start)
    return best, result


def measure(size: int, runs: int) -> dict[str, object]:
    cn = profiles.load("cn")
    cutoff = cn.retention_cutoff(cn.local_date(NOW))
    folder = Path(tempfile.mkdtemp(prefix="retention-bench-"))
    duck = connect()
    try:
        rows = f"SELECT * FROM ({EVENTS_SQL})"
        duck.execute(
            f"CREATE TABLE generated AS {rows}", {"size": size, "people": max(size // 200, 1)}
        )
        written = write_months(duck, "SELECT * FROM generated", MONTHS, folder)
        duck.execute("DROP TABLE generated")
        files = [w.path for w in written]
        listed = sql_path_list(folder / f for f in files)
        empty = EXPIRED_KEYS.empty_table()

        find, found = _best(
            runs,
            lambda: lake_expiry.expired_events(duck, folder, files, cn.time_zone, cutoff, empty),
        )
        scan_sql = (
            "SELECT count(*) FROM (SELECT DISTINCT person_id, source, event_id, kind, status, "
            "outcome, paid_date, case_number, court, occurred_at "
            f"FROM read_parquet({listed}, hive_partitioning = false, union_by_name = true) "
            f"WHERE ({lake_expiry._negative()}) OR ({lake_expiry._resolving()}))"
        )
        scan, _ = _best(runs, lambda: duck.execute(scan_sql).fetchall())
        keys = found.select(["person_id", "source", "event_id"])  # type: ignore[union-attr]
        locate, holders = _best(runs, lambda: lake_expiry.files_holding(duck, folder, files, keys))
        months = {w.path: w.month for w in written}
        duck.register("purged_keys", keys)
        holding = sorted(holders)  # type: ignore[arg-type]

        def rewrite() -> int:
            return sum(
                rewrite_without_events(duck, folder, months[p], p, "purged_keys").rows
                for p in holding
            )

        def copy() -> int:
            return sum(
                write_parquet(
                    folder,
                    f"copies/{i}.parquet",
                    DuckDBRows(
                        duck,
                        f"SELECT * FROM read_parquet({sql_path(folder / p)}, "
                        f"hive_partitioning = false) ORDER BY {EVENT_ORDER}",
                    ),
                ).rows
                for i, p in enumerate(holding)
            )

        rewritten, kept = _best(1, rewrite)
        copied, total = _best(1, copy)
    finally:
        duck.close()
        shutil.rmtree(folder, ignore_errors=True)
    expired = found.num_rows  # type: ignore[union-attr]
    return {
        "events": size,
        "files": len(files),
        "expired": expired,
        "find_seconds": round(find, 3),
        "find_ceiling_seconds": round(scan, 3),
        "find_ratio": round(find / scan, 2),
        "locate_seconds": round(locate, 3),
        "locate_ratio": round(locate / scan, 2),
        "files_rewritten": len(holding),
        "rewrite_seconds": round(rewritten, 3),
        "copy_ceiling_seconds": round(copied, 3),
        "rewrite_ratio": round(rewritten / copied, 2),
        "rows_removed": int(total) - int(kept),  # type: ignore[call-overload]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results = [measure(size, args.runs) for size in args.sizes]
    stamp = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    machine = platform.platform()
    (ROOT / "results" / "retention_sweep.json").write_text(
        json.dumps({"at": stamp, "machine": machine, "results": results}, indent=2) + "\n"
    )
    lines = [
        "# Retention sweep (lake work)",
        "",
        f"{stamp}, {machine}",
        "",
        "| events | files | expired | find s | ceiling s | ratio | locate s | ratio "
        "| files rewritten | rewrite s | copy ceiling s | ratio | rows removed |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['events']:,} | {r['files']} | {r['expired']:,} | {r['find_seconds']} "
            f"| {r['find_ceiling_seconds']} | {r['find_ratio']} | {r['locate_seconds']} "
            f"| {r['locate_ratio']} | {r['files_rewritten']} | {r['rewrite_seconds']} "
            f"| {r['copy_ceiling_seconds']} | {r['rewrite_ratio']} | {r['rows_removed']:,} |"
        )
    (ROOT / "results" / "retention_sweep.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
