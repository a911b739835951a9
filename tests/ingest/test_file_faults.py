"""Files and faults: empty, cut and foreign-encoded files, the same file ingested by three
processes at once, and a disk that fills while the lake is written; each fails closed with
a clear message and no traceback, and the lake holds each event once."""

from __future__ import annotations

import base64
import errno
import os
import resource
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from kaimen.cli import app
from kaimen.domain.errors import BatchRejected, InputFileError, NothingToRead, StorageFull
from kaimen.ingest.event_rules import INPUT_COLUMNS
from kaimen.ingest.file_ingest import ingest_file
from kaimen.input_files import file_sha256
from kaimen.lake import atomic_parquet
from kaimen.lake.sql_paths import sql_path
from kaimen.store import lake_manifest
from kaimen.store.identity_vault import IdentityVault
from kaimen.store.tables import ingest_batches
from tests.conftest import NOW
from tests.ingest import events_factory as f

HEADER = "source,event_id,person_id,kind,occurred_at,amount,currency\n"
GOOD_LINE = "bank-a,e1,P001,payment,2026-09-15T10:00:00+08:00,12.50,CNY"


@pytest.fixture
def people(engine: Engine, vault: IdentityVault) -> list[str]:
    return f.enrol(engine, vault)


def _zero_rows(path: Path, typed: bool) -> Path:
    """A Parquet file with the catalogue's columns and no rows; `typed` gives `amount` a
    float type, which is read in chunks rather than in place."""
    columns = {c: pa.array([], pa.string()) for c in INPUT_COLUMNS}
    if typed:
        columns["amount"] = pa.array([], pa.float64())
    pq.write_table(pa.table(columns), path)
    return path


EMPTY_FILES: dict[str, Callable[[Path], Path]] = {
    "empty.csv": lambda p: _text(p, ""),
    "header-only.csv": lambda p: _text(p, HEADER),
    "header-without-newline.csv": lambda p: _text(p, HEADER.rstrip("\n")),
    "empty.jsonl": lambda p: _text(p, ""),
    "blank-lines.jsonl": lambda p: _text(p, "\n\n  \n"),
    "zero-rows.parquet": lambda p: _zero_rows(p, typed=False),
    "zero-rows-typed.parquet": lambda p: _zero_rows(p, typed=True),
}


def _text(path: Path, content: str) -> Path:
    path.write_text(content, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", sorted(EMPTY_FILES))
def test_a_file_without_rows_is_nothing_to_ingest_and_stores_nothing(
    engine: Engine, lake_root: Path, tmp_path: Path, people: list[str], name: str
) -> None:
    path = EMPTY_FILES[name](tmp_path / name)
    before = f.state(engine, lake_root)
    with pytest.raises(NothingToRead, match="holds no rows: nothing to ingest"):
        ingest_file(engine, lake_root, path, "tester", now=NOW)
    assert f.state(engine, lake_root) == before
    # Not recorded as seen either: the same file, once filled, is ingested.
    with engine.connect() as store:
        assert lake_manifest.batch_for_file(store, file_sha256(path)) is None


@pytest.mark.parametrize(
    ("content", "fields"),
    [
        (HEADER + "bank-a,e1,P001,payme", 4),  # cut inside a value
        (HEADER + 'bank-a,e1,P001,payment,"2026-09-', 5),  # cut inside a quoted value
        (HEADER + GOOD_LINE[: GOOD_LINE.rindex(",")], 6),  # cut before the last field
    ],
)
def test_a_csv_whose_only_line_is_cut_is_rejected_at_that_line(
    engine: Engine, lake_root: Path, tmp_path: Path, people: list[str], content: str, fields: int
) -> None:
    path = _text(tmp_path / "cut.csv", content)
    before = f.state(engine, lake_root)
    with pytest.raises(BatchRejected) as rejected:
        ingest_file(engine, lake_root, path, "tester", now=NOW)
    assert f.problems(rejected.value) == [(2, "*", f"has {fields} fields, the header has 7")]
    assert f.state(engine, lake_root) == before


ENCODINGS = ["gb18030", "utf-16", "latin-1"]


def _foreign(path: Path, encoding: str) -> tuple[Path, int]:
    """Two good lines, then one whose text is not ASCII, in `encoding`; returns the file and
    the line on which UTF-8 first fails (the first, for UTF-16's byte-order mark)."""
    value = "café" if encoding == "latin-1" else "张三公司"
    if path.suffix == ".csv":
        lines = [
            "source,event_id,person_id,kind,occurred_at,attribute,value",
            "bank-a,a1,P001,attribute,2026-09-01T10:00:00+08:00,employer,acme",
            f"bank-a,a2,P001,attribute,2026-09-02T10:00:00+08:00,employer,{value}",
        ]
        bad_line = 3
    else:
        event = '{{"source": "bank-a", "event_id": "{}", "person_id": "P001", "kind": "attribute", '
        event += (
            '"occurred_at": "2026-09-01T10:00:00+08:00", "attribute": "employer", "value": "{}"}}'
        )
        lines = [event.format("a1", "acme"), event.format("a2", value)]
        bad_line = 2
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path, 1 if encoding == "utf-16" else bad_line


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_a_file_in_another_encoding_is_refused_at_its_first_bad_line(
    engine: Engine, lake_root: Path, tmp_path: Path, people: list[str], encoding: str, suffix: str
) -> None:
    path, line = _foreign(tmp_path / f"events{suffix}", encoding)
    before = f.state(engine, lake_root)
    with pytest.raises(InputFileError) as refused:
        ingest_file(engine, lake_root, path, "tester", now=NOW)
    message = str(refused.value)
    assert f"line {line} is not UTF-8 text" in message
    assert "re-save it as UTF-8" in message
    assert f.state(engine, lake_root) == before


# -- real processes ------------------------------------------------------------------------


def _env(home: Path, database_url: str) -> dict[str, str]:
    env = {
        **os.environ,
        "KAIMEN_HOME": str(home),
        "KAIMEN_DATABASE_URL": database_url,
        "KAIMEN_SECRET_KEY": base64.b64encode(bytes(range(32))).decode("ascii"),
        "COLUMNS": "300",
        "NO_COLOR": "1",
        "TERM": "dumb",
    }
    env.pop("KAIMEN_ADMIN_TOKEN", None)
    return env


def _kaimen(
    env: dict[str, str], *args: str, preexec: Callable[[], None] | None = None
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "kaimen", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=preexec,
    )


def _finish(process: subprocess.Popen[str]) -> tuple[int, str]:
    out, err = process.communicate(timeout=300)
    return process.returncode, out + err


def _glob_rows(lake_root: Path) -> int:
    """Rows of every Parquet file under `events/`, as a tool reading the lake by glob sees."""
    if not any(lake_root.glob("events/*/*.parquet")):
        return 0  # DuckDB refuses a glob that matches nothing
    pattern = sql_path(lake_root / "events" / "*" / "*.parquet")
    connection = duckdb.connect()
    try:
        row = connection.execute(f"SELECT count(*) FROM read_parquet({pattern})").fetchone()
    finally:
        connection.close()
    assert row is not None
    return int(row[0])


def _manifest_rows(engine: Engine) -> int:
    with engine.connect() as store:
        return lake_manifest.totals(store)[1]


def test_three_processes_ingesting_one_new_file_store_it_once(
    engine: Engine, database_url: str, tmp_path: Path, people: list[str]
) -> None:
    home = tmp_path / "home"
    path = f.write(tmp_path / "events.csv", f.sample_events(300))
    env = _env(home, database_url)
    processes = [_kaimen(env, "ingest", str(path)) for _ in range(3)]
    outcomes = [_finish(p) for p in processes]
    for code, output in outcomes:
        assert code == 0, output
        assert "Traceback" not in output, output
    said = sorted(output.strip().splitlines()[-1] for _, output in outcomes)
    assert said == [
        "new 0, duplicate 300, rejected 0 (this exact file was ingested before)",
        "new 0, duplicate 300, rejected 0 (this exact file was ingested before)",
        "new 300, duplicate 0, rejected 0",
    ]
    lake_root = home / "lake"
    stored = f.lake_events(engine, lake_root)
    assert len(stored) == 300
    assert len({(e["source"], e["event_id"]) for e in stored}) == 300
    assert _glob_rows(lake_root) == _manifest_rows(engine) == 300
    with engine.connect() as store:
        assert store.execute(select(func.count()).select_from(ingest_batches)).scalar() == 1


def _lopsided_events() -> list[dict[str, str]]:
    """A small month, then a large one: the first month's file is placed before the second
    month's write meets the full disk."""
    small = [
        f.event("payment", f"j{i:04d}", "P001", occurred_at=f"2026-07-{10 + i % 10}T10:00:00+08:00")
        for i in range(20)
    ]
    large = [
        f.event(
            "payment",
            f"s{i:06d}",
            list(f.PEOPLE)[i % 4],
            occurred_at=f"2026-09-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00+08:00",
            amount=f"{1 + i % 9973}.{i % 100:02d}",
        )
        for i in range(12_000)
    ]
    return small + large


def _file_size_limit(limit: int) -> Callable[[], None]:
    def limited() -> None:
        # A write past `limit` bytes then fails with EFBIG, as on a full disk, instead of
        # killing the process.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return limited


def test_a_disk_that_fills_during_ingestion_fails_closed_and_the_rerun_succeeds(
    engine: Engine, database_url: str, tmp_path: Path, people: list[str]
) -> None:
    home = tmp_path / "home"
    path = f.write(tmp_path / "events.csv", _lopsided_events())
    env = _env(home, database_url)
    # The small months' files (a few KiB) fit and are placed; the large month's (over 50 KiB)
    # does not. SQLite's own shared-memory file needs 32 KiB, and its log may meet the
    # limit before the lake does: either way nothing may be left.
    limit = 40_000 if database_url.startswith("sqlite") else 16_000
    code, output = _finish(_kaimen(env, "ingest", str(path), preexec=_file_size_limit(limit)))
    assert code == 1, output
    assert "Traceback" not in output, output
    assert "the disk is full (or a file size limit was reached), so nothing was stored" in output
    if not database_url.startswith("sqlite"):
        assert "File too large" in output  # the lake's writer met it, with months placed
    lake_root = home / "lake"
    assert _glob_rows(lake_root) == _manifest_rows(engine) == 0
    assert not any((lake_root / "_incoming").glob("*"))

    code, output = _finish(_kaimen(env, "ingest", str(path)))
    assert code == 0, output
    assert "new 12,020, duplicate 0, rejected 0" in output
    assert _glob_rows(lake_root) == _manifest_rows(engine) == 12_020
    assert len({(e["source"], e["event_id"]) for e in f.lake_events(engine, lake_root)}) == 12_020


def test_no_space_at_a_later_month_leaves_no_unlisted_file(
    engine: Engine,
    lake_root: Path,
    tmp_path: Path,
    people: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = f.write(tmp_path / "events.csv", f.sample_events(44))
    real_write = atomic_parquet._write
    started: list[Path] = []
    counting = threading.Lock()

    def full_after_two(rows: atomic_parquet.Rows, target: Path) -> None:
        # Two threads may write months at once: the count is taken under a lock, and the
        # disk, once full, stays full for every later write.
        with counting:
            started.append(target)
            full = len(started) > 2
        if full:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target))
        real_write(rows, target)

    monkeypatch.setattr(atomic_parquet, "_write", full_after_two)
    before = f.state(engine, lake_root)
    with pytest.raises(StorageFull, match="No space left on device"):
        ingest_file(engine, lake_root, path, "tester", now=NOW)
    assert f.state(engine, lake_root) == before
    assert f.raw_rows(lake_root) == 0

    monkeypatch.setattr(atomic_parquet, "_write", real_write)
    report = ingest_file(engine, lake_root, path, "tester", now=NOW)
    assert (report.new, report.duplicate) == (44, 0)
    assert _glob_rows(lake_root) == _manifest_rows(engine) == 44


def test_files_a_crash_left_unlisted_are_swept_by_the_next_ingest(
    engine: Engine, lake_root: Path, tmp_path: Path, people: list[str]
) -> None:
    first = f.write(tmp_path / "first.csv", f.sample_events(44))
    ingest_file(engine, lake_root, first, "tester", now=NOW)
    # What a process killed between placing its files and committing their listing leaves:
    # a complete file in a month's folder, and one still staged.
    month = next((lake_root / "events").glob("month=*"))
    listed = next(month.glob("*.parquet"))
    (month / "part-crashed.parquet").write_bytes(listed.read_bytes())
    (lake_root / "_incoming").mkdir(exist_ok=True)
    (lake_root / "_incoming" / "staged-crashed.parquet").write_bytes(listed.read_bytes())
    assert _glob_rows(lake_root) > _manifest_rows(engine)

    second = f.write(tmp_path / "second.csv", f.sample_events(10, prefix="n"))
    ingest_file(engine, lake_root, second, "tester", now=NOW)
    assert not (month / "part-crashed.parquet").exists()
    assert not list((lake_root / "_incoming").glob("*"))
    assert _glob_rows(lake_root) == _manifest_rows(engine) == 54


def test_every_file_door_refuses_empty_cut_and_foreign_files_without_a_traceback(
    tmp_path: Path,
) -> None:
    env = _env(tmp_path / "home", f"sqlite:///{tmp_path / 'kaimen.sqlite'}")
    gb18030, _ = _foreign(tmp_path / "gb.csv", "gb18030")
    cases = [
        (["ingest", str(EMPTY_FILES["header-only.csv"](tmp_path / "h.csv"))], "holds no rows"),
        (["ingest", str(EMPTY_FILES["empty.jsonl"](tmp_path / "e.jsonl"))], "holds no rows"),
        (["ingest", str(_zero_rows(tmp_path / "z.parquet", typed=False))], "holds no rows"),
        (["ingest", str(_text(tmp_path / "cut.csv", HEADER + "bank-a,e1"))], "line 2: *: has 2"),
        (["ingest", str(gb18030)], "line 3 is not UTF-8 text"),
        (["enrol", "--file", str(_text(tmp_path / "p.csv", "phone,national_id\n"))], "no rows"),
        (["enrol", "--file", str(_text(tmp_path / "pc.csv", "phone,national_id\n138"))], "has 1"),
        (["courtlist", "import", str(_text(tmp_path / "c.jsonl", ""))], "holds no rows"),
        (["payments", "import", str(_text(tmp_path / "pay.csv", "transaction_id\n"))], "no rows"),
    ]
    # One real process, as a user runs it, to see that no traceback reaches the terminal;
    # the other doors in this process (each CLI start costs seconds of imports on CI), where
    # an exception escaping the command would show as the result's exception.
    (first_args, first_says), *rest = cases
    code, output = _finish(_kaimen(env, *first_args))
    assert code == 1 and "Traceback" not in output and first_says in output, output
    runner = CliRunner()
    for args, says in rest:
        result = runner.invoke(app, args, env=env)
        escaped = result.exception is not None and not isinstance(result.exception, SystemExit)
        assert not escaped, (args, result.exception)
        assert result.exit_code == 1, (args, result.output)
        assert says in result.output, (args, result.output)
