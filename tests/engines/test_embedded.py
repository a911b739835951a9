"""The embedded engine: its settings hold, a spill folder may have any name, and sessions of
the shared database keep their own objects to themselves."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from sqlalchemy import Engine

from kaimen.engines.embedded import connect, ibis_connection, session
from kaimen.features.build import build_features
from kaimen.features.summary_build import refresh_summaries
from kaimen.ingest.inbox_ingest import accept_events, seal_inbox
from kaimen.operations.status import status
from kaimen.scoring.lake_summaries import summary_paths
from kaimen.sharing.own_data import export
from kaimen.store.identity_vault import IdentityVault
from tests.conftest import NOW
from tests.ingest.events_factory import enrol, sample_events


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


def test_sessions_share_a_database_but_none_of_each_others_own_objects() -> None:
    first, second = session(), session()
    try:
        first.execute("SET TimeZone = 'Asia/Shanghai'")
        first.execute("CREATE TEMP TABLE mine AS SELECT 1 AS x")
        first.register("registered", pa.table({"y": [1]}))
        for name in ("mine", "registered"):
            with pytest.raises(duckdb.CatalogException):
                second.execute(f"SELECT * FROM {name}")
        assert _setting(second, "TimeZone") == "UTC"
        assert session().execute("SELECT current_database()").fetchone() == (
            first.execute("SELECT current_database()").fetchone()
        )
    finally:
        first.close()
        second.close()


def test_the_services_leave_nothing_in_the_shared_database(
    engine: Engine, lake_root: Path, vault: IdentityVault
) -> None:
    """What a session creates beyond its temporary objects every later session would see
    (and a relation named like it would read it): the services that use sessions create none."""
    enrol(engine, vault)
    events = sample_events(30)
    accept_events(engine, lake_root, events, "admin", now=NOW)
    seal_inbox(engine, lake_root, "admin", now=NOW)
    backend = ibis_connection()
    refresh_summaries(engine, backend, lake_root, NOW)
    features = build_features(backend, summary_paths(engine, lake_root), "2026-10")
    assert features.num_rows > 0
    person = events[0]["person_id"]
    assert export(engine, vault, lake_root, person, NOW).events
    assert status(engine, lake_root).events > 0
    look = session()
    try:
        left = look.execute(
            "SELECT 'table ' || table_name FROM duckdb_tables() WHERE NOT temporary "
            "UNION ALL SELECT 'view ' || view_name FROM duckdb_views() "
            "WHERE NOT internal AND NOT temporary "
            "UNION ALL SELECT 'macro ' || function_name FROM duckdb_functions() "
            "WHERE NOT internal AND function_type IN ('macro', 'table_macro')"
        ).fetchall()
    finally:
        look.close()
    assert left == []
