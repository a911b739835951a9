"""The embedded engine: its settings hold, and a spill folder may have any name."""

from __future__ import annotations

from pathlib import Path

import duckdb

from kaimen.engines.embedded import connect


def _setting(connection: duckdb.DuckDBPyConnection, name: str) -> str:
    row = connection.execute("SELECT value FROM duckdb_settings() WHERE name = ?", [name])
    found = row.fetchone()
    assert found is not None
    return str(found[0])


def test_settings_hold_even_for_a_folder_with_quotes_and_spaces(tmp_path: Path) -> None:
    spill = tmp_path / 'it\'s a "spill"; folder'
    connection = connect(threads=1, memory_limit="256MB", temp_directory=spill)
    try:
        assert spill.is_dir()
        assert _setting(connection, "temp_directory") == str(spill)
        assert _setting(connection, "threads") == "1"
        assert _setting(connection, "TimeZone") == "UTC"
        # A query big enough to want its memory limit still answers.
        total = connection.execute("SELECT sum(i) FROM range(1000000) t(i)").fetchone()
        assert total == (499999500000,)
    finally:
        connection.close()
