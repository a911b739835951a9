"""`kaimen sandbox spiral` end to end: it writes its report, refuses bad options in a line,
and leaves its heavy libraries out of the commands that do not run it."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from kaimen.cli import app
from tests.test_cli_startup import imported_by


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("KAIMEN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("KAIMEN_DATABASE_URL", raising=False)
    monkeypatch.delenv("KAIMEN_PROFILE", raising=False)
    monkeypatch.chdir(tmp_path)
    return CliRunner()


def test_the_spiral_sandbox_runs_end_to_end(runner: CliRunner, tmp_path: Path) -> None:
    done = runner.invoke(
        app, ["sandbox", "spiral", "--people", "600", "--months", "3", "--seed", "2"]
    )
    assert done.exit_code == 0, done.output
    assert "unbounded coupling" in done.output and "kaimen's bound" in done.output
    folder = tmp_path / "spiral-report"
    assert sorted(p.name for p in folder.iterdir()) == [
        "spiral.csv",
        "spiral.json",
        "spiral.md",
        "spiral.png",
        "spiral.svg",
    ]
    assert not (tmp_path / "home").exists()  # the sandbox needs no store


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["--people", "5"], 2, "--people"),
        (["--months", "0"], 2, "--months"),
        (["--people", "100", "--listed", "50"], 1, "listed must be between 1 and a tenth"),
        (["--share", "0.9"], 1, "share must be above 0 and at most 0.5"),
        (["--tie-value", "0"], 1, "tie value must be above 0"),
        (["--profile", "nowhere"], 2, "--profile"),
        (["--report", "a-file.txt"], 2, "is a file, not a folder"),
    ],
)
def test_bad_options_are_refused_in_a_line(
    runner: CliRunner, tmp_path: Path, args: list[str], code: int, says: str
) -> None:
    (tmp_path / "a-file.txt").write_text("not a folder", encoding="utf-8")
    done = runner.invoke(app, ["sandbox", "spiral", "--people", "300", *args])
    assert done.exit_code == code, done.output
    assert says in done.output
    assert "Traceback" not in done.output
    assert done.exception is None or isinstance(done.exception, SystemExit)


def test_sandbox_help_imports_no_numerics_or_plotting(tmp_path: Path) -> None:
    imported = imported_by(tmp_path / "home", "sandbox", "spiral", "--help")
    assert imported.isdisjoint({"numpy", "scipy", "matplotlib", "pyarrow", "pandas"})
