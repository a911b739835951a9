"""The atomic Parquet writer: a file is either wholly in place and on disk, or not there at
all, with nothing left in the stage, whatever the lake root is called."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import duckdb
import ibis
import pyarrow.parquet as pq
import pytest

from kaimen.lake import atomic_parquet
from kaimen.lake.atomic_parquet import (
    INCOMING_DIR,
    DuckDBRows,
    IbisRows,
    write_parquet,
    write_parquet_unless_empty,
)
from kaimen.lake.writer import unlisted_files

NUMBERS = "SELECT i, 'row ' || i AS label FROM range($n) t(i) ORDER BY i"


def numbers(connection: duckdb.DuckDBPyConnection, n: int, **options: Any) -> DuckDBRows:
    return DuckDBRows(connection, NUMBERS, {"n": n}, **options)


def everything_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_a_query_becomes_a_file_in_place_and_nothing_else(
    duck: duckdb.DuckDBPyConnection, lake_root: Path
) -> None:
    placed = write_parquet(lake_root, "events/month=2026-01/part-a.parquet", numbers(duck, 5))
    target = lake_root / "events/month=2026-01/part-a.parquet"
    assert (placed.path, placed.rows) == ("events/month=2026-01/part-a.parquet", 5)
    assert placed.sha256 == hashlib.sha256(target.read_bytes()).hexdigest()
    table = pq.read_table(target)
    assert table.column("i").to_pylist() == [0, 1, 2, 3, 4]
    assert table.column("label").to_pylist()[-1] == "row 4"
    assert everything_under(lake_root) == [placed.path]  # the stage is empty again
    metadata = pq.read_metadata(target)
    assert metadata.row_group(0).column(0).compression == "ZSTD"


def test_row_group_size_is_the_callers(duck: duckdb.DuckDBPyConnection, lake_root: Path) -> None:
    placed = write_parquet(lake_root, "a.parquet", numbers(duck, 10_000, row_group_rows=4096))
    metadata = pq.read_metadata(lake_root / placed.path)
    assert [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)] == [
        4096,
        4096,
        1808,
    ]


def test_an_empty_result_is_placed_or_skipped_as_asked(
    duck: duckdb.DuckDBPyConnection, lake_root: Path
) -> None:
    kept = write_parquet(lake_root, "kept.parquet", numbers(duck, 0))
    assert kept.rows == 0
    assert pq.read_table(lake_root / "kept.parquet").num_rows == 0
    assert write_parquet_unless_empty(lake_root, "skipped.parquet", numbers(duck, 0)) is None
    assert everything_under(lake_root) == ["kept.parquet"]
    placed = write_parquet_unless_empty(lake_root, "full.parquet", numbers(duck, 3))
    assert placed is not None
    assert placed.rows == 3


@pytest.mark.parametrize("name", ["it's a lake", 'a "quoted" lake', "lake; DROP TABLE x; --'"])
def test_any_lake_root_name_works(
    duck: duckdb.DuckDBPyConnection, tmp_path: Path, name: str
) -> None:
    root = tmp_path / name / "lake"
    placed = write_parquet(root, "summaries/part-b.parquet", numbers(duck, 4))
    assert pq.read_table(root / placed.path).num_rows == 4

    backend = ibis.duckdb.connect()
    files = backend.read_parquet(str(root / placed.path))
    from_ibis = write_parquet(
        root, "summaries/part-c.parquet", IbisRows(backend, files.filter(files.i >= 1))
    )
    assert from_ibis.rows == 3
    assert pq.read_table(root / from_ibis.path).column("i").to_pylist() == [1, 2, 3]
    assert everything_under(root) == ["summaries/part-b.parquet", "summaries/part-c.parquet"]


def test_an_ibis_backend_other_than_duckdb_writes_through_its_own_to_parquet(
    lake_root: Path,
) -> None:
    backend = ibis.sqlite.connect()
    backend.raw_sql("CREATE TABLE t (a INTEGER)")
    backend.raw_sql("INSERT INTO t VALUES (1), (2), (3)")
    table = backend.table("t")
    placed = write_parquet(lake_root, "x.parquet", IbisRows(backend, table.filter(table.a > 1)))
    assert placed.rows == 2
    assert pq.read_table(lake_root / "x.parquet").column("a").to_pylist() == [2, 3]


class HalfWritingBackend:
    """An Ibis backend whose write dies halfway, leaving a partial file, as a full disk does."""

    name = "half-writing"

    def to_parquet(self, expression: object, path: Path, **options: object) -> None:
        path.write_bytes(b"PAR1" + b"\0" * 1000)
        raise OSError("No space left on device")


def assert_nothing_left(root: Path) -> None:
    assert everything_under(root) == []
    assert unlisted_files(root, [], ["events", "summaries", INCOMING_DIR]) == []


def test_a_failure_mid_write_leaves_no_file_and_no_debris(lake_root: Path) -> None:
    with pytest.raises(OSError, match="No space left"):
        write_parquet(lake_root, "events/part-d.parquet", IbisRows(HalfWritingBackend(), None))
    assert_nothing_left(lake_root)


def test_a_failing_query_leaves_no_file_and_no_debris(
    duck: duckdb.DuckDBPyConnection, lake_root: Path
) -> None:
    failing = DuckDBRows(
        duck,
        "SELECT CASE WHEN i = 300000 THEN error('boom') ELSE i END AS i FROM range(400000) t(i)",
        row_group_rows=2048,
    )
    with pytest.raises(duckdb.Error, match="boom"):
        write_parquet(lake_root, "events/part-e.parquet", failing)
    assert_nothing_left(lake_root)


@pytest.mark.parametrize("failing", ["file fsync", "rename", "folder fsync"])
def test_a_failure_syncing_or_renaming_leaves_no_file_and_no_debris(
    duck: duckdb.DuckDBPyConnection,
    lake_root: Path,
    monkeypatch: pytest.MonkeyPatch,
    failing: str,
) -> None:
    """A folder sync failing after the rename takes the file back: the rename may be lost."""
    real_fsync = os.fsync
    month = lake_root / "events/month=2026-01"

    def fsync(descriptor: int) -> None:
        synced = Path(f"/proc/self/fd/{descriptor}").resolve()
        # The month's folder is synced once, after the rename into it.
        if failing == ("folder fsync" if synced == month.resolve() else "file fsync"):
            raise OSError(f"{failing} failed")
        real_fsync(descriptor)

    def rename(*args: object) -> None:
        raise OSError("rename failed")

    monkeypatch.setattr(atomic_parquet.os, "fsync", fsync)
    monkeypatch.setattr(Path, "replace", rename if failing == "rename" else Path.replace)
    with pytest.raises(OSError, match=f"{failing} failed"):
        write_parquet(lake_root, "events/month=2026-01/part-f.parquet", numbers(duck, 3))
    monkeypatch.undo()
    assert_nothing_left(lake_root)


def test_the_file_is_synced_before_the_rename_and_its_folders_after(
    duck: duckdb.DuckDBPyConnection, lake_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_fsync = os.fsync
    target = lake_root / "events/month=2026-02/part-h.parquet"
    synced: list[tuple[str, bool]] = []  # (what was synced, whether the file was in place)

    def recording_fsync(descriptor: int) -> None:
        path = Path(f"/proc/self/fd/{descriptor}").resolve()
        synced.append((str(path.relative_to(root)), target.exists()))
        real_fsync(descriptor)

    lake_root.mkdir()
    root = lake_root.resolve()  # as /proc names it
    monkeypatch.setattr(atomic_parquet.os, "fsync", recording_fsync)
    write_parquet(lake_root, "events/month=2026-02/part-h.parquet", numbers(duck, 3))
    monkeypatch.undo()
    staged, in_place = synced[0]
    assert staged.startswith(f"{INCOMING_DIR}/")
    assert staged.endswith("part-h.parquet")
    assert not in_place
    # Each new folder is synced into its parent, then the folder the file was renamed into.
    assert synced[1:] == [(".", False), ("events", False), ("events/month=2026-02", True)]
