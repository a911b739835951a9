"""The clocks and the worker's round on SQLite and PostgreSQL: a settled-pending listing, a
payment and a candidate identity link waiting for review are listed with their deadlines
(the reviews due the profile's `review_within` after they were queued) and flagged once
overdue; a round lifts the due listing, re-scores its person and runs the retention sweep;
`kaimen sla` and `kaimen worker --once` do the same from the command line."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from kaimen.cli import app
from kaimen.dueprocess import clocks
from kaimen.dueprocess.court_import import import_file as import_court_list
from kaimen.dueprocess.payment_import import import_payments_file
from kaimen.dueprocess.settlement import register_collection_account
from kaimen.dueprocess.sweeps import run_round
from kaimen.enrolment import enrol_one
from kaimen.store import audit, court_list
from kaimen.store.database import open_store
from kaimen.store.identity_vault import IdentityVault
from kaimen.store.tables import audit_log, court_listings
from tests.dueprocess.test_settlement import (
    ACCOUNT,
    CASE,
    CN,
    COURT,
    ID_JOURNALIST,
    IMPORTED,
    _at,
    _court_list,
    _fine,
    _payments,
    _status,
    listed,
)

__all__ = ["listed"]  # the fixture, shared with the settlement tests

STRAY = "T-2,,,12.00,CNY,2026-09-29,999,a gift\n"
# Counted from 30 September 2026 in Beijing: three working days across the National Day
# week end on the make-up Saturday, 10 October; passed at its end.
REVIEW_DUE = dt.datetime(2026, 10, 10, 16, 0, tzinfo=dt.UTC)
LIFT_AT = dt.datetime(2026, 10, 9, 16, 0, tzinfo=dt.UTC)  # the first instant of 10 October


def test_clocks_list_reviews_and_removals_and_a_round_lifts_and_rescores(
    engine: Engine, vault: IdentityVault, tmp_path: Path, listed: dict[str, str]
) -> None:
    pay = _payments(tmp_path / "pay.csv", _fine(), STRAY)
    report = import_payments_file(engine, vault, CN, pay, "tester", now=IMPORTED)
    assert (report.matched, report.unmatched) == (1, 1)
    with engine.begin() as store:
        queued = court_list.enqueue(
            store, [(listed["other_listing"], listed["journalist"], 0.7)], IMPORTED
        )
    assert queued == 1

    before = clocks.sla_view(engine, CN, _at(dt.date(2026, 10, 5)))
    by_source = {item.source: item for item in before.items}
    removal = by_source["pending_removal"]
    assert (removal.ref, removal.subject) == (listed["listing"], listed["journalist"])
    assert removal.due_at == LIFT_AT and not removal.overdue
    review = by_source["link_review"]
    assert (review.subject, review.due_at, review.overdue) == (
        listed["journalist"],
        REVIEW_DUE,
        False,
    )
    assert "waiting 4 days" in review.detail
    payment = by_source["payment_review"]
    assert (payment.due_at, payment.overdue) == (REVIEW_DUE, False)
    assert before.overdue == 0

    late = clocks.sla_view(engine, CN, _at(dt.date(2026, 10, 12)))
    flagged = {i.source for i in late.items if i.overdue}
    assert flagged >= {"pending_removal", "link_review", "payment_review"}

    done = run_round(engine, vault, tmp_path / "lake", CN, now=_at(dt.date(2026, 10, 12)))
    assert done.lifted.lifted == (listed["listing"],)
    assert done.lifted.people_changed == (listed["journalist"],)
    assert listed["journalist"] in done.rescore
    assert done.retention is not None and done.retention.expiry.events == 0
    assert _status(engine, listed["listing"]) == "lifted"
    after = clocks.sla_view(engine, CN, _at(dt.date(2026, 10, 12)))
    assert "pending_removal" not in {i.source for i in after.items}
    assert {"link_review", "payment_review"} <= {i.source for i in after.items}
    with engine.connect() as store:
        actions = set(store.execute(select(audit_log.c.action)).scalars())
    assert "court_list.lifted" in actions
    assert audit.verify(engine) > 0


def test_kaimen_worker_once_lifts_a_due_listing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAIMEN_HOME", str(tmp_path))
    monkeypatch.setenv("KAIMEN_SECRET_KEY", base64.b64encode(bytes(range(32))).decode())
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.delenv("KAIMEN_DATABASE_URL", raising=False)
    monkeypatch.delenv("KAIMEN_PROFILE", raising=False)
    runner = CliRunner()
    assert runner.invoke(app, ["payments", "account", COURT, ACCOUNT]).exit_code == 0
    engine = open_store(f"sqlite:///{tmp_path / 'kaimen.sqlite'}")
    vault = IdentityVault(bytes(range(32)))
    enrol_one(engine, vault, "13800138001", ID_JOURNALIST, "tester", now=IMPORTED)
    import_court_list(engine, vault, _court_list(tmp_path), "tester", now=IMPORTED)
    register_collection_account(engine, COURT, ACCOUNT, "tester", now=IMPORTED)
    pay = _payments(tmp_path / "pay.csv", _fine())
    assert import_payments_file(engine, vault, CN, pay, "tester", now=IMPORTED).matched == 1

    # Its lifting time (9 October 2026) has passed by the clock the commands read.
    sla = runner.invoke(app, ["sla"])
    assert sla.exit_code == 0, sla.output
    assert "pending_removal" in sla.output and "OVERDUE" in sla.output
    worker = runner.invoke(app, ["worker", "--once"])
    assert worker.exit_code == 0, worker.output
    assert "lifted 1" in worker.output and "re-scored 1" in worker.output
    with engine.connect() as store:
        statuses = dict(
            store.execute(select(court_listings.c.case_number, court_listings.c.status)).all()
        )
    assert statuses[CASE] == "lifted"
    assert "pending_removal" not in runner.invoke(app, ["sla"]).output
    assert audit.verify(engine) > 0
    engine.dispose()
