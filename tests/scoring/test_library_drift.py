"""The monthly run says when the libraries running differ from those the champion was fitted
under (its artifact records them), and the command prints it."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from kaimen.cli import app
from kaimen.engines.embedded import ibis_connection
from kaimen.model import library_versions
from kaimen.scoring.batch import score_month
from tests.population import LAST, Population


def test_a_run_under_other_library_versions_says_which(
    scored_copy: Population, monkeypatch: pytest.MonkeyPatch
) -> None:
    with scored_copy.opened() as world:
        same = score_month(world.engine, ibis_connection(), world.lake, LAST, "test")
        assert same.already_published and same.library_drift == ()
        real = library_versions.running()
        monkeypatch.setattr(
            library_versions, "running", lambda: {**real, "numpy": "0.0.1", "lightgbm": "1.0"}
        )
        other = score_month(world.engine, ibis_connection(), world.lake, LAST, "test")
    assert [(d.library, d.recorded, d.running) for d in other.library_drift] == [
        ("numpy", real["numpy"], "0.0.1"),
        ("lightgbm", real["lightgbm"], "1.0"),
    ]
    monkeypatch.setenv("KAIMEN_HOME", str(scored_copy.home))
    monkeypatch.setenv("KAIMEN_DATABASE_URL", scored_copy.url)
    shown = CliRunner().invoke(app, ["score", "--month", LAST])
    assert shown.exit_code == 0, shown.output
    assert "library version differs from training: numpy:" in shown.output
