"""`kaimen audit verify --head FILE` and `kaimen audit head`, on both databases."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from click.testing import Result
from sqlalchemy import create_engine, delete
from typer.testing import CliRunner

from kaimen.cli import app
from kaimen.store import audit_head
from kaimen.store.tables import audit_log

runner = CliRunner()


def _kaimen(env: dict[str, str | None], *args: str) -> Result:
    return runner.invoke(app, list(args), env=env)


def _env(tmp_path: Path, database_url: str) -> dict[str, str | None]:
    return {
        "KAIMEN_HOME": str(tmp_path / "home"),
        "KAIMEN_DATABASE_URL": database_url,
        "KAIMEN_SECRET_KEY": base64.b64encode(bytes(range(32))).decode(),
        "KAIMEN_AUDIT_HEAD_FILE": str(tmp_path / "witness" / "heads.log"),
        "COLUMNS": "300",
        "NO_COLOR": "1",
        "TERM": "dumb",
    }


def test_a_deleted_tail_and_a_forged_head_fail_verify(tmp_path: Path, database_url: str) -> None:
    env = _env(tmp_path, database_url)
    heads = tmp_path / "witness" / "heads.log"
    for partner in ("car-rental", "bike-share"):
        added = _kaimen(env, "partner", "add", partner, "--name", partner)
        assert added.exit_code == 0, added.output
    assert len(heads.read_text().splitlines()) == 2

    verified = _kaimen(env, "audit", "verify", "--head", str(heads))
    assert verified.exit_code == 0, verified.output
    assert f"audit log verified: 2 rows, chain intact; it holds all 2 signed heads in {heads}" in (
        verified.stdout
    )
    shown = _kaimen(env, "audit", "head")
    assert shown.exit_code == 0, shown.output
    public_key = shown.stdout.split("public key: ")[1].split()[0]
    assert "row 2, hash " in shown.stdout
    # A witness checks with the key as published, not the home's own.
    published = _kaimen(env, "audit", "verify", "--head", str(heads), "--public-key", public_key)
    assert published.exit_code == 0, published.output

    # The operator deletes the newest row: the chain alone still verifies, the heads do not,
    # and plain `audit verify` checks the home's own heads (it checked the chain alone).
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(delete(audit_log).where(audit_log.c.seq == 2))
    engine.dispose()
    assert _kaimen(env, "audit", "verify").exit_code == 1
    assert (
        _kaimen(
            {**env, "KAIMEN_AUDIT_HEAD_FILE": str(tmp_path / "none.log")}, "audit", "verify"
        ).exit_code
        == 0
    )
    caught = _kaimen(env, "audit", "verify", "--head", str(heads))
    assert caught.exit_code == 1
    assert "audit log row 2: missing: the log ends at row 1, but line 2 of the head file" in (
        caught.output
    )
    assert "the newest rows were deleted" in caught.output
    assert "Traceback" not in caught.output

    # A head line nobody with the key signed.
    forged = tmp_path / "forged.log"
    first = heads.read_text().splitlines()[0]
    forged.write_text(first + "\n" + json.dumps(json.loads(first) | {"seq": 1_000}) + "\n")
    refused = _kaimen(env, "audit", "verify", "--head", str(forged))
    assert refused.exit_code == 1
    assert "audit head file line 2: the signature over row 1000 does not verify" in refused.output


def test_verify_names_a_missing_file_or_a_bad_key(tmp_path: Path, database_url: str) -> None:
    env = _env(tmp_path, database_url)
    missing = _kaimen(env, "audit", "verify", "--head", str(tmp_path / "nowhere.log"))
    assert missing.exit_code == 1
    assert f"no head file at {tmp_path / 'nowhere.log'}" in missing.output
    assert _kaimen(env, "partner", "add", "car-rental", "--name", "Car").exit_code == 0
    heads = str(tmp_path / "witness" / "heads.log")
    bad = _kaimen(env, "audit", "verify", "--head", heads, "--public-key", "not-a-key")
    assert bad.exit_code == 1
    assert "--public-key: not an Ed25519 public key" in bad.output
    other = audit_head.public_key_text(audit_head.HeadSigner(audit_head.new_key()).public_key)
    wrong = _kaimen(env, "audit", "verify", "--head", heads, "--public-key", other)
    assert wrong.exit_code == 1
    assert "line 1: the signature over row 1 does not verify" in wrong.output


def test_audit_head_before_any_head(tmp_path: Path, database_url: str) -> None:
    shown = _kaimen(_env(tmp_path, database_url), "audit", "head")
    assert shown.exit_code == 1
    assert "no audit head has been signed yet" in shown.output
