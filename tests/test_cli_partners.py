"""`kaimen partner`: register, issue a key shown once, list, revoke."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from kaimen.cli import app
from kaimen.store import audit, partners
from kaimen.store.database import open_store
from kaimen.store.tables import api_keys


def test_partner_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAIMEN_HOME", str(tmp_path))
    monkeypatch.delenv("KAIMEN_DATABASE_URL", raising=False)
    runner = CliRunner()
    added = runner.invoke(app, ["partner", "add", "car-rental", "--name", "Car Rental"])
    assert added.exit_code == 0, added.output
    issued = runner.invoke(
        app, ["partner", "key", "car-rental", "--scope", "decisions", "--scope", "feedback"]
    )
    assert issued.exit_code == 0, issued.output
    key = issued.stdout.strip().splitlines()[-1]
    engine = open_store(f"sqlite:///{tmp_path / 'kaimen.sqlite'}")
    with engine.connect() as store:
        record = partners.authenticate(store, key)
        assert record is not None and record.scopes == ("decisions", "feedback")
        stored = store.execute(select(api_keys)).one()
        # kmk_<16 hex key id>_<secret>: the secret itself may hold underscores.
        secret = key.split("_", 2)[2]
        assert len(secret) == 43 and secret not in str(tuple(stored))
    listed = runner.invoke(app, ["partner", "list"])
    assert record.key_id in listed.output and "live" in listed.output
    revoked = runner.invoke(app, ["partner", "revoke", record.key_id])
    assert revoked.exit_code == 0, revoked.output
    with engine.connect() as store:
        assert partners.authenticate(store, key) is None
    assert audit.verify(engine) == 3  # added, key issued, key revoked

    again = runner.invoke(app, ["partner", "revoke", record.key_id])
    assert again.exit_code == 1 and "already revoked" in again.output
    bad_scope = runner.invoke(app, ["partner", "key", "car-rental", "--scope", "scores"])
    assert bad_scope.exit_code == 1 and "unknown scope(s) scores" in bad_scope.output
    unknown = runner.invoke(app, ["partner", "key", "nobody", "--scope", "reports"])
    assert unknown.exit_code == 1 and "no partner nobody" in unknown.output
    bad_id = runner.invoke(app, ["partner", "add", "Bad!", "--name", "x"])
    assert bad_id.exit_code == 1 and "must be 3-64" in bad_id.output
    engine.dispose()


def test_data_is_printed_as_it_is_never_obeyed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A partner's name or a refused value is printed literally: Rich's markup in it (`[/]`)
    stopped the command with an unexpected error and `[link=...]` was obeyed; a terminal's
    escape sequences are shown as escapes; a long refused value is cut to its start."""
    monkeypatch.setenv("KAIMEN_HOME", str(tmp_path))
    monkeypatch.delenv("KAIMEN_DATABASE_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "250")
    runner = CliRunner()
    added = runner.invoke(app, ["partner", "add", "markup-co", "--name", "Evil [/] Co"])
    assert added.exit_code == 0, added.output
    listed = runner.invoke(app, ["partner", "list"])
    assert listed.exit_code == 0, listed.output
    assert "Evil [/] Co" in listed.output
    for value, shown in (
        ("[/]", "no API key [/]"),
        ("[link=http://evil]click[/link]", "no API key [link=http://evil]click[/link]"),
        ("\x1b[2J\x1b[31mFAKE", "no API key \\x1b[2J\\x1b[31mFAKE"),
        ("y" * 3000, "no API key " + "y" * 40 + "\u2026"),
    ):
        refused = runner.invoke(app, ["partner", "revoke", value])
        assert refused.exit_code == 1, refused.output
        assert "Traceback" not in refused.output and "unexpected" not in refused.output
        assert shown in refused.output, refused.output
        assert "\x1b" not in refused.output and len(refused.output) < 200
