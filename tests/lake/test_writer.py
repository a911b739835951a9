"""Writing events into the lake: one file per month, sorted by person and time; an opt-out's
copy without a person; one writer at a time; what the store does not list."""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from kaimen.lake import writer as writer_module
from kaimen.lake.writer import (
    EVENTS_DIR,
    INCOMING_DIR,
    MonthWriter,
    exclusive,
    rewrite_without,
    unlisted_files,
    write_months,
)
from tests.lake.lake_rows import T0, as_table, event, write_events

FEB = T0 + dt.timedelta(days=31)


def rows_of(root: Path, path: str) -> list[tuple[str, str, str | None]]:
    table = pq.read_table(root / path)
    return list(
        zip(
            table.column("person_id").to_pylist(),
            table.column("event_id").to_pylist(),
            table.column("friend_id").to_pylist(),
            strict=True,
        )
    )


def test_one_file_per_month_sorted_by_person_then_time(
    duck: duckdb.DuckDBPyConnection, lake_root: Path
) -> None:
    written = write_events(
        duck,
        lake_root,
        [
            event("e1", "P002", occurred_at=T0 + dt.timedelta(hours=2)),
            event("e2", "P001", occurred_at=FEB),
            event("e3", "P001", occurred_at=T0 + dt.timedelta(hours=5)),
            event("e4", "P002", occurred_at=T0 + dt.timedelta(hours=1)),
            event("e5", "P001", occurred_at=T0 + dt.timedelta(hours=3)),
        ],
    )
    assert [(w.month, w.rows) for w in written] == [("2026-01", 4), ("2026-02", 1)]
    for w in written:
        assert w.path.startswith(f"{EVENTS_DIR}/month={w.month}/part-")
        assert w.path.endswith(".parquet")
        assert w.sha256 == hashlib.sha256((lake_root / w.path).read_bytes()).hexdigest()
    assert [e for _, e, _ in rows_of(lake_root, written[0].path)] == ["e5", "e3", "e4", "e1"]
    assert "month" not in pq.read_schema(lake_root / written[0].path).names
    on_disk = sorted(str(p.relative_to(lake_root)) for p in lake_root.rglob("*.parquet"))
    assert on_disk == sorted(w.path for w in written)


def test_a_month_whose_rows_were_all_filtered_out_gets_no_file(
    duck: duckdb.DuckDBPyConnection, lake_root: Path
) -> None:
    duck.register("batch", as_table([event("e1"), event("e2", occurred_at=FEB)]))
    written = write_months(
        duck, "SELECT * FROM batch WHERE event_id <> 'e2'", ["2026-01", "2026-02"], lake_root
    )
    assert [w.month for w in written] == ["2026-01"]
    assert not (lake_root / EVENTS_DIR / "month=2026-02").exists()
    assert not any((lake_root / INCOMING_DIR).iterdir())


def test_a_copy_without_a_person_cuts_their_events_and_the_links_to_them(
    duck: duckdb.DuckDBPyConnection, lake_root: Path
) -> None:
    [original] = write_events(
        duck,
        lake_root,
        [
            event("e1", "P001"),
            event("e2", "P002", kind="friend_link", friend_id="P001", action="added"),
            event("e3", "P002", kind="friend_link", friend_id="P003", action="added"),
            event("e4", "P003", occurred_at=T0 + dt.timedelta(hours=1)),
        ],
    )
    before = (lake_root / original.path).read_bytes()
    copy = rewrite_without(duck, lake_root, original.month, original.path, "P001")
    assert copy.month == original.month
    assert copy.path != original.path
    assert copy.path.startswith(f"{EVENTS_DIR}/month=2026-01/part-")
    assert copy.rows == 3
    assert rows_of(lake_root, copy.path) == [
        ("P002", "e2", None),
        ("P002", "e3", "P003"),
        ("P003", "e4", None),
    ]
    assert copy.sha256 == hashlib.sha256((lake_root / copy.path).read_bytes()).hexdigest()
    assert (lake_root / original.path).read_bytes() == before  # the caller deletes it later
    columns = [
        [(f.name, f.type) for f in pq.read_schema(lake_root / path)]
        for path in (copy.path, original.path)
    ]
    assert columns[0] == columns[1]


def test_a_copy_without_everyone_in_it_is_kept_empty(
    duck: duckdb.DuckDBPyConnection, lake_root: Path
) -> None:
    [original] = write_events(duck, lake_root, [event("e1", "P001"), event("e2", "P001")])
    copy = rewrite_without(duck, lake_root, original.month, original.path, "P001")
    assert copy.rows == 0
    assert pq.read_table(lake_root / copy.path).num_rows == 0


def test_writing_and_rewriting_work_under_a_root_with_quotes_and_spaces(
    duck: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    root = tmp_path / "O'Brien's \"lake\"" / "lake"
    [original] = write_events(duck, root, [event("e1", "P001"), event("e2", "P002")])
    copy = rewrite_without(duck, root, original.month, original.path, "P001")
    assert [p for p, _, _ in rows_of(root, copy.path)] == ["P002"]


def test_one_writer_at_a_time(lake_root: Path) -> None:
    order: list[str] = []
    first_in = threading.Event()

    def first() -> None:
        with exclusive(lake_root):
            first_in.set()
            time.sleep(0.3)
            order.append("first out")

    def second() -> None:
        first_in.wait()
        with exclusive(lake_root):
            order.append("second in")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert order == ["first out", "second in"]


def test_unlisted_files_are_those_under_the_folders_the_store_does_not_list(
    duck: duckdb.DuckDBPyConnection, lake_root: Path
) -> None:
    written = write_events(duck, lake_root, [event("e1"), event("e2", occurred_at=FEB)])
    debris = lake_root / INCOMING_DIR / "left-by-a-crash.parquet"
    debris.write_bytes(b"")
    (lake_root / "elsewhere").mkdir()
    (lake_root / "elsewhere" / "not-ours.parquet").write_bytes(b"")
    listed = [written[0].path]
    assert unlisted_files(lake_root, listed, [EVENTS_DIR, INCOMING_DIR, "absent"]) == [
        debris,
        lake_root / written[1].path,
    ]


def test_threads_sharing_the_months_write_each_once_and_a_failure_leaves_nothing(
    duck: duckdb.DuckDBPyConnection, lake_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two threads, each on its own cursor, write every month once between them; after a
    month fails in one, the other stops, nothing is written, and `remove` leaves no file."""
    events = [
        event(f"e{m}-{i}", f"P00{i}", occurred_at=T0 + dt.timedelta(days=31 * m, hours=i))
        for m in range(6)
        for i in range(1, 4)
    ]
    duck.register("batch_rows", as_table(events))
    duck.execute("CREATE TABLE batch AS SELECT * FROM batch_rows")  # cursors see it
    months = sorted({e["occurred_at"].strftime("%Y-%m") for e in events})
    shared = MonthWriter("SELECT * FROM batch", months, lake_root)
    with duck.cursor() as other:
        helper = threading.Thread(target=shared.work, args=(other,))
        helper.start()
        shared.work(duck)
        helper.join()
    written = shared.written()
    assert [w.month for w in written] == months and all(w.rows == 3 for w in written)
    on_disk = sorted(str(p.relative_to(lake_root)) for p in lake_root.rglob("*.parquet"))
    assert on_disk == sorted(w.path for w in written)

    place = writer_module.write_parquet_unless_empty
    calls: list[str] = []

    def third_fails(root: Path, relative: str, rows: object) -> object:
        calls.append(relative)
        if len(calls) == 3:
            raise OSError("disk on fire")
        return place(root, relative, rows)  # type: ignore[arg-type]

    monkeypatch.setattr(writer_module, "write_parquet_unless_empty", third_fails)
    failing = MonthWriter("SELECT * FROM batch", months, lake_root / "again")
    with pytest.raises(OSError):
        failing.work(duck)
    failing.work(duck)  # another thread coming late takes nothing more
    assert len(calls) == 3
    with pytest.raises(RuntimeError):
        failing.written()
    failing.remove()
    assert not list((lake_root / "again").rglob("*.parquet"))

    stopped = MonthWriter("SELECT * FROM batch", months, lake_root / "stopped")
    stopped.stop()
    stopped.work(duck)
    assert len(calls) == 3  # stopped before the first month
