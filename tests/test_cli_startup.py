"""The command line starts at once: heavy libraries are imported only by the commands that
use them. Each case runs `kaimen` in a fresh interpreter and lists the modules it imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kaimen.cli import app, app_for
from kaimen.store.database import open_store

# Runs the `kaimen` script's entry point, then prints every module imported.
LIST_IMPORTS = """
import json, sys
from kaimen.cli import main
sys.argv = ["kaimen", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.__stderr__)
"""
MODEL_AND_ENGINE_LIBRARIES = {"ibis", "lightgbm", "sklearn", "pandas", "pyarrow", "duckdb"}


def modules_imported_by(home: Path, *args: str) -> set[str]:
    env = {**os.environ, "KAIMEN_HOME": str(home)}
    env.pop("KAIMEN_DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", LIST_IMPORTS, *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    names: list[str] = json.loads(done.stderr.splitlines()[-1])
    return set(names)


def imported_by(home: Path, *args: str) -> set[str]:
    """The top-level packages `kaimen *args` imported."""
    return {name.split(".")[0] for name in modules_imported_by(home, *args)}


def test_help_imports_no_model_engine_or_database_library(tmp_path: Path) -> None:
    imported = imported_by(tmp_path / "home", "--help")
    assert "typer" in imported
    assert imported.isdisjoint(MODEL_AND_ENGINE_LIBRARIES | {"sqlalchemy", "alembic", "numpy"})
    assert "pydantic_settings" not in imported  # the settings are read once a command runs
    assert not (tmp_path / "home").exists()


def test_show_reads_the_store_without_sqlalchemy_model_or_engine_libraries(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    open_store(f"sqlite:///{home / 'kaimen.sqlite'}").dispose()
    imported = imported_by(home, "show", "S2026-00000001")
    assert "sqlite3" in imported
    # The store is read through its driver, and not migrated: no SQLAlchemy, no Alembic.
    assert imported.isdisjoint(
        MODEL_AND_ENGINE_LIBRARIES | {"sqlalchemy", "alembic", "prometheus_client", "psycopg"}
    )


def test_show_on_sqlite_skips_what_it_does_not_use(tmp_path: Path) -> None:
    home = tmp_path / "home"
    open_store(f"sqlite:///{home / 'kaimen.sqlite'}").dispose()
    modules = modules_imported_by(home, "show", "S2026-00000001")
    # The vault's cryptography (no identity value is hashed or shown), Rich's tables and
    # emoji codes.
    unused = {
        "cryptography",
        "numpy",
        "rich.table",
        "rich._emoji_codes",
    }
    assert modules.isdisjoint(unused)


@pytest.mark.parametrize(
    "args",
    [
        ["show", "--help"],
        ["show"],
        ["whatif", "P1", "--target", "high"],
        ["person", "--help"],
        ["person", "export", "--help"],
        ["audit"],
        ["lake", "nothing-such"],
    ],
)
def test_a_named_command_alone_parses_helps_and_refuses_as_under_the_whole_app(
    args: list[str],
) -> None:
    alone = app_for(args)
    assert alone is not app
    whole_run, alone_run = CliRunner().invoke(app, args), CliRunner().invoke(alone, args)
    assert whole_run.output
    assert (alone_run.exit_code, alone_run.output) == (whole_run.exit_code, whole_run.output)


def test_anything_but_a_command_first_gets_the_whole_app() -> None:
    for args in ([], ["--help"], ["sho", "P1"], ["--help", "show"]):
        assert app_for(args) is app


def test_a_command_closes_the_store_and_leaves_no_write_ahead_log(tmp_path: Path) -> None:
    """`main` closes the store as the command ends: SQLite, closing its last connection,
    deletes the write-ahead log it has copied into the database file. Left behind (as when
    the process ended with its connections open), the next command to open the store reads
    the whole log again and copies it again at its first commit."""
    home = tmp_path / "home"
    open_store(f"sqlite:///{home / 'kaimen.sqlite'}").dispose()
    assert not (home / "kaimen.sqlite-wal").exists()
    # A command that writes: the partner's row and its audit row, committed in WAL mode.
    imported_by(home, "partner", "add", "car-rental", "--name", "Car Rental")
    assert not (home / "kaimen.sqlite-wal").exists()
    assert not (home / "kaimen.sqlite-shm").exists()
    engine = open_store(f"sqlite:///{home / 'kaimen.sqlite'}")
    try:
        with engine.connect() as store:  # the command's rows are in the database file
            assert store.exec_driver_sql("SELECT count(*) FROM partners").scalar_one() == 1
    finally:
        engine.dispose()


def test_an_unexpected_error_is_a_message_and_exit_status_70_not_a_traceback(
    tmp_path: Path,
) -> None:
    # A home that is a file: nothing kaimen refuses in words, so the command meets an OSError.
    home = tmp_path / "home"
    home.write_text("not a folder\n")
    env = {**os.environ, "KAIMEN_HOME": str(home), "COLUMNS": "200"}
    env.pop("KAIMEN_DATABASE_URL", None)
    env.pop("KAIMEN_DEBUG", None)
    done = subprocess.run(
        [sys.executable, "-m", "kaimen", "status"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 70
    assert done.stdout == ""
    assert done.stderr.startswith("kaimen stopped on an unexpected error: FileExistsError: ")
    assert "KAIMEN_DEBUG=1" in done.stderr
    assert "Traceback" not in done.stderr and "╭" not in done.stderr
    assert len(done.stderr.splitlines()) == 2
    debugged = subprocess.run(
        [sys.executable, "-m", "kaimen", "status"],
        env={**env, "KAIMEN_DEBUG": "1"},
        capture_output=True,
        text=True,
    )
    assert debugged.returncode == 1
    assert "FileExistsError" in debugged.stderr and "kaimen stopped" not in debugged.stderr
