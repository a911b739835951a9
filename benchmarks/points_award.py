"""The points programme's monthly award and balance replay (run by hand), each timed against
a ceiling measured in the same run.

    PYTHONPATH=src .venv/bin/python benchmarks/points_award.py --sizes 1000000 5000000

Each size writes that many events of one month (January 2026) as one lake file, sorted by
person as the lake writer sorts them, for size/10 people: rent payments (on time, late,
defaulted), rentals (returned, damaged, unpaid) and other kinds the tenants' rulebook ignores.

Reported, per size:
- award: `points.awarding.award_expression` under the shipped lawful rulebook (deduplication,
  the five rules' conditions, caps per person, rule and period with a window) to Arrow, on
  embedded DuckDB, against the ceiling of one scan of the same file reading the same columns
  and counting the rows of the kinds the rules read per person and kind;
- replay: `points.balances.replayed` over the entries the award made, against the ceiling of
  Arrow's group-by sum of their points per person.
Results go to benchmarks/results/points_award.json/.md with the load average.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pyarrow as pa

from kaimen.engines.embedded import connect, ibis_connection
from kaimen.engines.parquet_files import read_parquet, to_arrow
from kaimen.lake.sql_paths import sql_path_list
from kaimen.lake.writer import write_months
from kaimen.points.awarding import award_expression
from kaimen.points.balances import replayed
from kaimen.points.rulebooks import parsed, read
from kaimen.store.points_ledger import KEY_SCHEMA, PRIOR_SCHEMA, REPLAY_SCHEMA

ROOT = Path(__file__).resolve().parent
MONTH = "2026-01"
T = TypeVar("T")

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
    CASE WHEN kind LIKE '%_payment' AND kind <> 'payment' THEN CAST(occurred_at AS DATE) END
        AS due_date,
    CASE WHEN kind LIKE '%_payment' AND kind <> 'payment' AND status <> 'defaulted'
        THEN CAST(occurred_at AS DATE) + CAST(i % 40 AS INTEGER) END AS paid_date,
    status,
    CASE WHEN kind = 'rental' THEN 'bikes' END AS partner,
    CASE WHEN kind = 'rental' THEN 'bike' END AS item,
    CASE WHEN kind = 'rental' THEN 'waived' END AS deposit,
    CASE WHEN kind = 'rental' THEN (CASE WHEN i % 9 = 0 THEN 'damaged'
        WHEN i % 17 = 0 THEN 'unpaid' ELSE 'returned' END) END AS outcome,
    NULL AS attribute, NULL AS value, NULL AS friend_id, NULL AS action,
    NULL AS case_number, NULL AS court,
    '2026-01' AS month
FROM (
    SELECT i,
        TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_seconds(
            CAST((i * 2654435761) % 2670000 AS BIGINT)) AS occurred_at,
        CASE i % 5 WHEN 0 THEN 'rent_payment' WHEN 1 THEN 'rental'
            WHEN 2 THEN 'utility_payment' ELSE 'payment' END AS kind,
        CASE WHEN i % 5 IN (0, 2) THEN (CASE WHEN i % 4 = 0 THEN 'late'
            WHEN i % 13 = 0 THEN 'defaulted' ELSE 'on_time' END) END AS status
    FROM range($size) AS r(i)
)
"""


def _best(runs: int, work: Callable[[], T]) -> tuple[float, T]:
    best, result = float("inf"), None
    for _ in range(runs):
        start = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - start)
    assert result is not None
    return best, result


def measure(size: int, runs: int) -> dict[str, object]:
    folder = Path(tempfile.mkdtemp(prefix="points-bench-"))
    duck = connect()
    backend = ibis_connection()
    book = parsed(*read("lawful")).rulebook
    try:
        duck.execute(
            f"CREATE TABLE generated AS SELECT * FROM ({EVENTS_SQL})",
            {"size": size, "people": max(size // 10, 1)},
        )
        written = write_months(duck, "SELECT * FROM generated", [MONTH], folder)
        duck.execute("DROP TABLE generated")
        paths = [folder / w.path for w in written]
        period = dt.date(2026, 1, 1)

        def award() -> pa.Table:
            expression = award_expression(
                read_parquet(backend, paths),
                book,
                period,
                KEY_SCHEMA.empty_table(),
                PRIOR_SCHEMA.empty_table(),
                pa.table(
                    {"person_id": [], "source": [], "event_id": []},
                    schema=pa.schema(
                        [
                            ("person_id", pa.string()),
                            ("source", pa.string()),
                            ("event_id", pa.string()),
                        ]
                    ),
                ),
            )
            return to_arrow(backend, expression)

        scan_sql = (
            "SELECT count(*) FROM (SELECT person_id, kind, count(*) FROM read_parquet("
            f"{sql_path_list(paths)}, hive_partitioning = false) "
            "WHERE kind IN ('rent_payment', 'rental') GROUP BY person_id, kind)"
        )
        awarded, entries = _best(runs, award)
        scan, _ = _best(runs, lambda: duck.execute(scan_sql).fetchall())
        rows = pa.table(
            {
                "person_id": entries.column("person_id"),
                "points": entries.column("points"),
                "period": entries.column("period"),
                "expires_on": entries.column("expires_on"),
                "halves_every_months": entries.column("halves_every_months"),
                "disputed": pa.array([False] * entries.num_rows),
            }
        ).cast(REPLAY_SCHEMA)
        replay, balances = _best(runs, lambda: replayed(rows, "2026-07", book.base, False))
        summed, _ = _best(runs, lambda: rows.group_by("person_id").aggregate([("points", "sum")]))
    finally:
        duck.close()
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "events": size,
        "people": size // 10,
        "entries": entries.num_rows,
        "balances": balances.num_rows,
        "award_seconds": round(awarded, 3),
        "award_ceiling_seconds": round(scan, 3),
        "award_ratio": round(awarded / scan, 2),
        "replay_seconds": round(replay, 3),
        "replay_ceiling_seconds": round(summed, 3),
        "replay_ratio": round(replay / summed, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results = [measure(size, args.runs) for size in args.sizes]
    stamp = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    machine = platform.platform()
    load = [round(x, 2) for x in os.getloadavg()]
    (ROOT / "results" / "points_award.json").write_text(
        json.dumps(
            {"at": stamp, "machine": machine, "load_average": load, "results": results}, indent=2
        )
        + "\n"
    )
    lines = [
        "# Points programme: monthly award and balance replay",
        "",
        f"{stamp}, {machine}, load average {load[0]} / {load[1]} / {load[2]} at the end",
        "",
        "| events | people | entries | award s | scan ceiling s | ratio | replay s "
        "| group-by ceiling s | ratio |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['events']:,} | {r['people']:,} | {r['entries']:,} | {r['award_seconds']} "
            f"| {r['award_ceiling_seconds']} | {r['award_ratio']} | {r['replay_seconds']} "
            f"| {r['replay_ceiling_seconds']} | {r['replay_ratio']} |"
        )
    (ROOT / "results" / "points_award.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
