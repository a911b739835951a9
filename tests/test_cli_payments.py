"""`kaimen payments`: register a court's account, import a file (bad rows named, nothing
stored), match the journalist's payment, see and decide the review queue."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from kaimen.cli import app
from kaimen.dueprocess.court_import import import_file as import_court_list
from kaimen.enrolment import enrol_one
from kaimen.store.database import open_store
from kaimen.store.identity_vault import IdentityVault
from kaimen.store.tables import court_listings, payments
from tests.dueprocess.test_settlement import (
    ACCOUNT,
    CASE,
    COURT,
    ID_JOURNALIST,
    IMPORTED,
    MISTYPED,
    PAY_HEADER,
)


def test_payment_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAIMEN_HOME", str(tmp_path))
    monkeypatch.setenv("KAIMEN_SECRET_KEY", base64.b64encode(bytes(range(32))).decode())
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.delenv("KAIMEN_DATABASE_URL", raising=False)
    monkeypatch.delenv("KAIMEN_PROFILE", raising=False)
    runner = CliRunner()
    account = runner.invoke(app, ["payments", "account", COURT, ACCOUNT])
    assert account.exit_code == 0, account.output
    engine = open_store(f"sqlite:///{tmp_path / 'kaimen.sqlite'}")
    vault = IdentityVault(bytes(range(32)))
    enrol_one(engine, vault, "13800138001", ID_JOURNALIST, "tester", now=IMPORTED)
    court = tmp_path / "court.csv"
    court.write_text(
        "name,id_number,case_number,court,amount,currency,judgment_date,status\n"
        f"王记者,{ID_JOURNALIST},{CASE},{COURT},5000.00,CNY,2025-03-01,entered\n",
        encoding="utf-8",
    )
    import_court_list(engine, vault, court, "tester", now=IMPORTED)

    bad = tmp_path / "bad.csv"
    bad.write_text(PAY_HEADER + "T-1,,,abc,CNY,2026-09-30,1,x\n", encoding="utf-8")
    refused = runner.invoke(app, ["payments", "import", str(bad)])
    assert refused.exit_code != 0
    assert "line 2" in refused.output and "amount" in refused.output

    good = tmp_path / "pay.csv"
    good.write_text(
        PAY_HEADER
        + f"T-1,王记者,{ID_JOURNALIST},5000,CNY,2026-09-30,{MISTYPED},罚款 {CASE}\n"
        + "T-2,,,12.00,CNY,2026-09-29,999,a gift\n",
        encoding="utf-8",
    )
    imported = runner.invoke(app, ["payments", "import", str(good)])
    assert imported.exit_code == 0, imported.output
    assert "matched 1, review 0, unmatched 1" in imported.output
    assert "3 working days" in imported.output
    with engine.connect() as store:
        assert store.execute(select(court_listings.c.status)).scalar_one() == "settled-pending"
        stray = store.execute(
            select(payments.c.payment_id).where(payments.c.state == "unmatched")
        ).scalar_one()
    queue = runner.invoke(app, ["payments", "review"])
    assert queue.exit_code == 0, queue.output
    assert stray in queue.output and "1 unmatched" in queue.output
    rejected = runner.invoke(app, ["payments", "reject", stray, "--reason", "not a judgment"])
    assert rejected.exit_code == 0, rejected.output
    again = runner.invoke(app, ["payments", "reject", stray, "--reason", "twice"])
    assert again.exit_code != 0 and "already rejected" in again.output
    engine.dispose()
