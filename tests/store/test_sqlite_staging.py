"""Arrow tables staged for an SQLite store by ADBC's driver: every value back as it was, the
file gone once attached, detached when the connection goes back to the pool."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from sqlalchemy import Connection, Engine, text

from kaimen.store import sqlite_staging
from kaimen.store.database import open_store
from tests.conftest import STORE_FILE


@pytest.fixture
def store(tmp_path: Path, migrated_sqlite: Path) -> Iterator[Engine]:
    path = tmp_path / STORE_FILE
    path.write_bytes(migrated_sqlite.read_bytes())
    engine = open_store(f"sqlite:///{path}")
    yield engine
    engine.dispose()


@pytest.fixture
def staging_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "staging"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _attached(connection: Connection) -> list[str]:
    return [row[1] for row in connection.exec_driver_sql("PRAGMA database_list")]


TABLE = pa.table(
    {
        "person_id": pa.array(["P1", "佩奇-2", "P'3; DROP TABLE people", "P4"]),
        "score": pa.array([350, None, 950, 2**62], pa.int64()),
        "thin_file": pa.array([False, True, None, False]),
        "reasons": pa.array(['[["a",1,2.5]]', "", None, "x" * 100_000]),
    }
)


def test_every_value_reads_back_in_order_and_the_file_is_gone(
    store: Engine, staging_dir: Path
) -> None:
    with store.connect() as connection:
        staged = sqlite_staging.attach(connection, TABLE)
        assert list(staging_dir.iterdir()) == []
        rows = connection.exec_driver_sql(
            f"SELECT person_id, score, thin_file, reasons FROM {staged}"
        ).all()
    assert [tuple(r) for r in rows] == [
        ("P1", 350, 0, '[["a",1,2.5]]'),
        ("佩奇-2", None, 1, ""),
        ("P'3; DROP TABLE people", 950, None, None),
        ("P4", 2**62, 0, "x" * 100_000),
    ]


def test_an_empty_table_stages_no_rows(store: Engine, staging_dir: Path) -> None:
    with store.connect() as connection:
        staged = sqlite_staging.attach(connection, TABLE.slice(0, 0))
        assert connection.exec_driver_sql(f"SELECT count(*) FROM {staged}").scalar_one() == 0


def test_rows_copied_in_a_transaction_that_rolls_back_leave_nothing_and_are_detached(
    store: Engine, staging_dir: Path
) -> None:
    with store.begin() as connection:
        connection.execute(text("CREATE TABLE copied (person_id TEXT, score INTEGER)"))
    with pytest.raises(RuntimeError), store.begin() as connection:
        staged = sqlite_staging.attach(connection, TABLE)
        connection.exec_driver_sql(f"INSERT INTO copied SELECT person_id, score FROM {staged}")
        assert len(_attached(connection)) == 2
        raise RuntimeError("the publication fails after the copy")
    with store.connect() as connection:
        assert _attached(connection) == ["main"]
        assert connection.exec_driver_sql("SELECT count(*) FROM copied").scalar_one() == 0


def test_a_staged_table_is_detached_when_the_connection_returns_to_the_pool(
    store: Engine, staging_dir: Path
) -> None:
    for _ in range(12):  # more than SQLite's ten attached databases, were they kept
        with store.begin() as connection:
            staged = sqlite_staging.attach(connection, TABLE)
            assert connection.exec_driver_sql(f"SELECT count(*) FROM {staged}").scalar_one() == 4
    with store.connect() as connection:
        assert _attached(connection) == ["main"]
    assert list(staging_dir.iterdir()) == []


def test_a_connection_kept_across_transactions_detaches_what_they_staged(
    store: Engine, staging_dir: Path
) -> None:
    with store.connect() as connection:
        for _ in range(12):
            with connection.begin():
                staged = sqlite_staging.attach(connection, TABLE)
                count = connection.exec_driver_sql(f"SELECT count(*) FROM {staged}")
                assert count.scalar_one() == 4
        assert len(_attached(connection)) == 2


def test_parts_read_back_as_the_whole_table_in_order(store: Engine, staging_dir: Path) -> None:
    numbers = pa.table({"n": pa.array(range(10), pa.int64())})
    with store.begin() as connection:
        staged = list(sqlite_staging.attach_in_parts(connection, numbers, 3))
        read = [
            [row[0] for row in connection.exec_driver_sql(f"SELECT n FROM {name}")]
            for name in staged
        ]
        empty = list(sqlite_staging.attach_in_parts(connection, numbers.slice(0, 0), 3))
        assert connection.exec_driver_sql(f"SELECT count(*) FROM {empty[0]}").scalar_one() == 0
    assert read == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert len(empty) == 1
    assert list(staging_dir.iterdir()) == []


def test_a_caller_stopping_early_leaves_no_part_behind(store: Engine, staging_dir: Path) -> None:
    numbers = pa.table({"n": pa.array(range(100), pa.int64())})
    with store.connect() as connection:
        parts = sqlite_staging.attach_in_parts(connection, numbers, 4)
        first = next(parts)
        parts.close()  # the part ahead was being written
        assert connection.exec_driver_sql(f"SELECT count(*) FROM {first}").scalar_one() == 25
    assert list(staging_dir.iterdir()) == []


@pytest.mark.parametrize("parts", [0, sqlite_staging.MAX_PARTS + 1])
def test_parts_out_of_range_are_refused(store: Engine, parts: int) -> None:
    with store.connect() as connection, pytest.raises(ValueError, match="parts"):
        next(sqlite_staging.attach_in_parts(connection, TABLE, parts))


STAGE_OVER_A_SIZE_LIMIT = """
import resource, signal, sys
import pyarrow as pa
from kaimen.domain.errors import StorageFull
from kaimen.store import sqlite_staging
from kaimen.store.database import open_store

engine = open_store(sys.argv[1])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write over the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (2 << 20, resource.RLIM_INFINITY))
with engine.connect() as connection:
    try:
        sqlite_staging.attach(connection, pa.table({"text": ["x" * 1000] * 10_000}))
    except StorageFull as refused:
        print(refused)
"""


def test_a_staged_file_the_disk_refuses_is_storage_full_and_leaves_nothing(
    tmp_path: Path, migrated_sqlite: Path, staging_dir: Path
) -> None:
    path = tmp_path / STORE_FILE
    path.write_bytes(migrated_sqlite.read_bytes())
    done = subprocess.run(
        [sys.executable, "-c", STAGE_OVER_A_SIZE_LIMIT, f"sqlite:///{path}"],
        env={**os.environ, "TMPDIR": str(staging_dir)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.startswith(f"the temporary folder ({staging_dir}, TMPDIR) is full")
    assert "disk I/O error" in done.stdout
    assert list(staging_dir.iterdir()) == []
