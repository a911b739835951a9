"""The server closes the store when it stops."""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path

from fastapi.testclient import TestClient

from kaimen.api.app import create_app
from kaimen.config import Settings

TOKEN = "admin-token-for-tests-0123456789"


def test_stopping_closes_the_store_and_leaves_no_write_ahead_log(tmp_path: Path) -> None:
    """On SQLite the last connection to close deletes the write-ahead log, copied into the
    database file by then; a server that stopped without closing would leave it for the next
    process to read and copy again (see `kaimen.cli.session.close_sessions`)."""
    home = tmp_path / "home"
    settings = Settings(
        home=home, secret_key=base64.b64encode(bytes(range(32))).decode(), admin_token=TOKEN
    )
    app = create_app(settings)
    with TestClient(app) as client:
        added = client.post(
            "/v1/partners",
            json={"partner_id": "car-rental", "name": "Car Rental"},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert added.status_code == 201, added.text
        assert (home / "kaimen.sqlite-wal").exists()  # written in WAL mode
    assert not (home / "kaimen.sqlite-wal").exists()
    with sqlite3.connect(home / "kaimen.sqlite") as store:
        assert store.execute("SELECT partner_id FROM partners").fetchall() == [("car-rental",)]
