"""Readiness: the store answers at the newest migration, the lake root is a writable directory
and the files the store lists are there; every failure is named, without paths or error text."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine

from kaimen.operations.readiness import Readiness, check_readiness
from kaimen.store import lake_manifest, summary_manifest
from kaimen.store.database import connect

NOW = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)


def _list_files(engine: Engine, lake: Path, lake_paths: list[str], summary: str) -> None:
    """Files in the lake, listed in the store as ingestion and summarising list them."""
    with engine.begin() as store:
        lake_manifest.record_batch(
            store,
            channel="file",
            received_at=NOW,
            events_total=len(lake_paths),
            events_new=len(lake_paths),
            files=[lake_manifest.FileRecord("2026-10", p, 1, "0" * 64) for p in lake_paths],
        )
        covered = [file_id for file_id, _, _ in lake_manifest.listed(store)]
        summary_manifest.record(store, summary, 1, covered, NOW)
    for path in [*lake_paths, summary]:
        (lake / path).parent.mkdir(parents=True, exist_ok=True)
        (lake / path).write_bytes(b"PAR1")


def _verdicts(readiness: Readiness) -> dict[str, tuple[bool, str]]:
    return {check.name: (check.ok, check.detail) for check in readiness.checks}


@pytest.fixture
def lake(engine: Engine, lake_root: Path) -> Path:
    lake_root.mkdir()
    paths = [f"events/month=2026-10/part-{n}.parquet" for n in range(5)]
    _list_files(engine, lake_root, paths, "summaries/part-0.parquet")
    return lake_root


def test_a_healthy_installation_is_ready(engine: Engine, lake: Path) -> None:
    readiness = check_readiness(engine, lake)
    assert readiness.ready and readiness.failed == ()
    assert _verdicts(readiness) == {
        "store": (True, "answers"),
        "schema": (True, "at the newest migration"),
        "lake": (True, "writable; 6 listed files checked present"),
        "model": (True, "no model trained yet"),
    }
    assert list(lake.iterdir()) == [lake / "events", lake / "summaries"]  # the probe left none


def test_only_the_newest_lake_files_are_looked_at(engine: Engine, lake: Path) -> None:
    (lake / "events/month=2026-10/part-0.parquet").unlink()  # the oldest
    assert check_readiness(engine, lake, newest_lake_files=4).ready
    readiness = check_readiness(engine, lake, newest_lake_files=5)
    assert _verdicts(readiness)["lake"] == (False, "1 of 6 listed files checked missing")
    assert "part-0" not in str(readiness)


def test_every_summary_file_is_looked_at(engine: Engine, lake: Path) -> None:
    (lake / "summaries/part-0.parquet").unlink()
    readiness = check_readiness(engine, lake, newest_lake_files=1)
    assert [c.name for c in readiness.failed] == ["lake"]


def test_a_lake_root_that_is_gone_or_not_a_directory_is_not_ready(
    engine: Engine, lake_root: Path
) -> None:
    assert _verdicts(check_readiness(engine, lake_root))["lake"] == (
        False,
        "the lake root does not exist",
    )
    lake_root.write_text("")
    assert _verdicts(check_readiness(engine, lake_root))["lake"] == (
        False,
        "the lake root is not a directory",
    )


def test_a_lake_root_that_cannot_be_written_is_not_ready(
    engine: Engine, lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    # A real read-only mount would do; root may write anywhere, so the refusal is simulated.
    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    assert _verdicts(check_readiness(engine, lake))["lake"] == (
        False,
        "the lake root is not writable",
    )


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////nonexistent-kaimen-directory/kaimen.sqlite",
        "postgresql+psycopg://nobody@127.0.0.1:1/kaimen",
    ],
)
def test_an_unreachable_store_is_not_ready(url: str, tmp_path: Path) -> None:
    engine = create_engine(url)
    readiness = check_readiness(engine, tmp_path)
    assert _verdicts(readiness) == {
        "store": (False, "unreachable"),
        "schema": (False, "not checked: the store is unreachable"),
        "lake": (True, "writable; listed files not checked: no manifest to read"),
        "model": (False, "not checked: the store is unreachable"),
    }
    assert not readiness.ready
    assert "nobody" not in str(readiness) and "nonexistent" not in str(readiness)


def test_a_store_behind_the_newest_migration_is_not_ready(tmp_path: Path) -> None:
    engine = connect(f"sqlite:///{tmp_path / 'new.sqlite'}")  # never migrated
    (tmp_path / "lake").mkdir()
    readiness = check_readiness(engine, tmp_path / "lake")
    assert _verdicts(readiness)["store"] == (True, "answers")
    assert _verdicts(readiness)["schema"] == (
        False,
        "not at the newest migration this version knows",
    )
    assert [c.name for c in readiness.failed] == ["schema"]
