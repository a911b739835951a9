"""THE GREP TEST: a whole run's logs, at INFO and at DEBUG, hold no phone number, ID number,
token, API key or SQL parameter.

The run enrols people (a file and one by one, over the CLI and the API, with refusals),
ingests, trains, scores and monitors, seals events sent over HTTP, issues person tokens and
partner keys, takes consents, decisions and reports, reads scores and exports a person's data;
then every secret it used is looked for in the captured log.
"""

from __future__ import annotations

import base64
import csv
import json
import secrets
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select
from typer.testing import CliRunner, Result

from kaimen.api.app import create_app
from kaimen.cli import app as cli
from kaimen.config import Settings
from kaimen.domain.national_id import check_character
from kaimen.store.tables import score_snapshots
from kaimen.telemetry.logs import configure_logging

SECRET = base64.b64encode(bytes(range(32))).decode("ascii")
ADMIN = "an-admin-token-of-some-length"
LAST = "2026-10"
STEPS = {
    "ingest_file",
    "seal",
    "summarise",
    "features_and_scores",
    "publish_rows",
    "score_change_alerts",
    "train",
    "score",
    "publish",
    "monitor",
}
# What a leak of SQL parameters looks like, in SQLAlchemy's error text or its statement log.
SQL_DUMPS = ("[parameters", "[generated in", "[cached since", "parameters hidden", "[raw sql]")
# What the redaction would leave behind: the run must not even have tried to log a secret.
MASKS = ("[phone]", "[national-id]", "[token]", "kmk_[redacted]", "[redacted]", "[secret]")


def _national_id(birth: str, sequence: str) -> str:
    body = "110101" + birth + sequence
    return body + check_character(body)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Run:
    """The CLI and the API over one home, remembering every secret they were given or gave."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.env: dict[str, str | None] = {
            "KAIMEN_HOME": str(home),
            "KAIMEN_SECRET_KEY": SECRET,
            "KAIMEN_ADMIN_TOKEN": ADMIN,
            "KAIMEN_DATABASE_URL": None,
            "KAIMEN_LOG_LEVEL": None,
            "COLUMNS": "200",
            "NO_COLOR": "1",
        }
        self.secrets: set[str] = {ADMIN, SECRET}
        self.runner = CliRunner()
        settings = Settings(home=home, secret_key=SECRET, admin_token=ADMIN)
        self.app = create_app(settings)
        self.client = TestClient(self.app)

    def kaimen(self, *args: str, ok: bool = True) -> Result:
        result = self.runner.invoke(cli, list(args), env=self.env)
        assert (result.exit_code == 0) == ok, result.output
        return result

    def identity(self, phone: str, national_id: str) -> tuple[str, str]:
        self.secrets |= {phone, phone.removeprefix("+86"), national_id, national_id.lower()}
        return phone, national_id

    def token(self, issued: str) -> str:
        self.secrets.add(issued)
        if issued.startswith("kmk_"):
            self.secrets.add(issued.split("_", 2)[2])  # the secret part (it may hold "_")
        return issued


def _full_run(run: Run) -> None:
    sim = run.home / "sim"
    run.kaimen(
        "simulate", "--people", "300", "--months", "24", "--seed", "7", "--last-month", LAST,
        "--out", str(sim),
    )  # fmt: skip
    with (sim / "people.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            run.identity(row["phone"], row["national_id"])
            run.secrets.add(row["name"])  # Hanzi names: kept encrypted, never logged

    # Enrolment: a file and one person over the CLI, one over the API, and refusals of each.
    run.kaimen("enrol", "--file", str(sim / "people.csv"))
    phone, national_id = run.identity("+8613800138000", _national_id("19900307", "123"))
    run.kaimen("enrol", "--phone", phone, "--national-id", national_id)
    run.kaimen("enrol", "--phone", "+8613900139000", "--national-id", national_id, ok=False)
    run.identity("+8613900139000", national_id)
    bad_id = national_id[:-1] + ("0" if national_id[-1] != "0" else "1")
    run.identity("13700137000", bad_id)
    run.kaimen("enrol", "--phone", "13700137000", "--national-id", bad_id, ok=False)
    phone, national_id = run.identity("+8613600136000", _national_id("19851201", "456"))
    enrolled = run.client.post(
        "/v1/people",
        json={"phone": phone, "national_id": national_id, "name": "Ouyang Xiaoqian"},
        headers=_bearer(ADMIN),
    )
    run.secrets.add("Ouyang Xiaoqian")
    assert enrolled.status_code == 201, enrolled.text
    refused = run.client.post(
        "/v1/people", json={"phone": "13500135000", "national_id": bad_id}, headers=_bearer(ADMIN)
    )
    assert refused.status_code == 422
    run.identity("13500135000", bad_id)

    # The monthly batch over the CLI.
    run.kaimen("ingest", str(sim / "events.parquet"))
    run.kaimen("train", "--as-of", LAST)
    run.kaimen("score", "--month", LAST)
    run.kaimen("monitor", "--month", LAST)

    engine = create_engine(f"sqlite:///{run.home / 'kaimen.sqlite'}")
    with engine.connect() as store:
        person = (
            store.execute(
                select(score_snapshots.c.person_id)
                .where(score_snapshots.c.score.is_not(None))
                .order_by(score_snapshots.c.person_id)
            )
            .scalars()
            .first()
        )
    engine.dispose()
    assert person is not None

    # Credentials: a person token over the CLI, partners and keys over the API.
    person_token = run.token(run.kaimen("token", person).stdout.strip())
    me = _bearer(person_token)
    admin = _bearer(ADMIN)
    keys = {}
    for partner, scopes in (("car-rental", ["decisions", "events"]), ("bureau", ["reports"])):
        added = run.client.post(
            "/v1/partners", json={"partner_id": partner, "name": partner.title()}, headers=admin
        )
        assert added.status_code == 201, added.text
        issued = run.client.post(
            f"/v1/partners/{partner}/keys", json={"scopes": scopes}, headers=admin
        )
        assert issued.status_code == 201, issued.text
        keys[partner] = _bearer(run.token(issued.json()["key"]))

    # Consents, an offer, a decision, a report, reads and a what-if.
    for partner, purpose in (("car-rental", "decision"), ("bureau", "report")):
        consent = run.client.post(
            "/v1/me/consents",
            json={"partner_id": partner, "purpose": purpose, "share_score": purpose == "decision"},
            headers=me,
        )
        assert consent.status_code == 201, consent.text
    offer = run.client.post(
        "/v1/offers",
        json={"name": "deposit waived", "purpose": "car rental", "min_score": 600},
        headers=keys["car-rental"],
    )
    assert offer.status_code == 201, offer.text
    decision = run.client.post(
        "/v1/decisions",
        json={"person_id": person, "offer_id": offer.json()["offer_id"]},
        headers=keys["car-rental"],
    )
    assert decision.status_code == 200, decision.text
    report = run.client.post(
        "/v1/reports", json={"person_id": person, "purpose": "tenancy"}, headers=keys["bureau"]
    )
    assert report.status_code == 200, report.text
    for path, headers in (
        (f"/v1/people/{person}/score", me),
        (f"/v1/people/{person}/score", admin),
        (f"/v1/people/{person}/whatif?target=900", admin),
        ("/v1/me/decisions", me),
        ("/v1/me/access-log", me),
        ("/v1/me/report", me),
    ):
        assert run.client.get(path, headers=headers).status_code == 200, path

    # Events over HTTP, sealed into the lake over the CLI.
    event = {
        "source": "bank-a",
        "event_id": "grep-1",
        "person_id": person,
        "kind": "payment",
        "occurred_at": "2026-10-15T10:00:00+08:00",
        "amount": "12.50",
        "currency": "CNY",
        "merchant_category": "groceries",
    }
    sent = run.client.post("/v1/events", json={"events": [event]}, headers=admin)
    assert sent.status_code == 200, sent.text
    run.kaimen("lake", "seal")

    # Exports: over the API by the person, over the CLI for them.
    assert run.client.get("/v1/me/export", headers=me).status_code == 200
    run.kaimen("person", "export", person, "--out", str(run.home / "export.json"))

    # Refused credentials, and a request id that is someone's phone number.
    for fake in (
        secrets.token_urlsafe(32),
        f"kmk_{secrets.token_hex(8)}_{secrets.token_urlsafe(32)}",
    ):
        answer = run.client.get(f"/v1/people/{person}/score", headers=_bearer(run.token(fake)))
        assert answer.status_code == 401
    answer = run.client.get("/healthz", headers={"X-Request-ID": "13800138000"})
    assert answer.headers["x-request-id"] != "13800138000"


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
def test_a_full_runs_logs_hold_no_personal_data_or_secrets(
    level: str, tmp_path: Path, restore_logging: None
) -> None:
    log_file = tmp_path / "kaimen.log"
    with log_file.open("w", encoding="utf-8") as stream:
        configure_logging(level, stream)
        run = Run(tmp_path / "home")
        try:
            _full_run(run)
        finally:
            run.app.state.workspace.engine.dispose()
    text = log_file.read_text(encoding="utf-8")
    records = [json.loads(line) for line in text.splitlines()]

    # The log holds what an operator needs, so the search below searches something.
    http = [r for r in records if r["logger"] == "kaimen.http"]
    assert len(http) >= 20
    assert all(str(r["request_id"]).startswith("r") and r["route"] for r in http)
    assert {r["step"] for r in records if r["logger"] == "kaimen.steps"} == STEPS
    assert {"partner.added", "scores.published", "model.trained"} <= {
        r["action"] for r in records if r["logger"] == "kaimen.store.audit"
    }
    assert {"Identity rejected", "Unauthorized"} <= {r.get("problem") for r in http}

    found = sorted(secret for secret in run.secrets if secret in text)
    assert found == [], f"{len(found)} secrets in the log"
    assert len(run.secrets) > 900  # 300 simulated people, each in three spellings, and more
    lowered = text.lower()
    assert [dump for dump in SQL_DUMPS if dump in lowered] == []
    assert not any(r["logger"].startswith("sqlalchemy.engine") for r in records)
    assert [mask for mask in MASKS if mask in text] == []
