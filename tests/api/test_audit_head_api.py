"""`GET /v1/audit/head`: the newest signed head and its public key, for any live credential."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from kaimen.config import Settings
from kaimen.sharing import authentication, partnering
from kaimen.store import audit, audit_head
from tests.api.conftest import TOKEN
from tests.conftest import make_national_id

ADMIN = {"Authorization": f"Bearer {TOKEN}"}


def test_the_newest_head_is_served_signed_to_any_caller(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    assert client.get("/v1/audit/head").status_code == 401
    # The people enrolled before the app opened the store moved the chain with no head yet.
    none_yet = client.get("/v1/audit/head", headers=ADMIN)
    assert none_yet.status_code == 404
    assert none_yet.json()["detail"] == "no audit head has been signed yet"

    enrolled = client.post(
        "/v1/people",
        json={"phone": "13912345678", "national_id": make_national_id(sequence="777")},
        headers=ADMIN,
    )
    assert enrolled.status_code == 201, enrolled.text
    answer = client.get("/v1/audit/head", headers=ADMIN)
    assert answer.status_code == 200, answer.text
    head = answer.json()
    assert head["seq"] == audit.count(engine) and head["algorithm"] == "Ed25519"
    # A witness needs nothing but the answer to check it.
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(head["public_key"]))
    key.verify(base64.b64decode(head["signature"]), head["signed_message"].encode())
    assert head["signed_message"].split("\n")[:3] == [
        "kaimen-audit-head:v1",
        str(head["seq"]),
        head["row_hash"],
    ]
    # The same head as the file's newest line, and the chain still holds it.
    heads_file = settings.resolved_audit_head_file
    lines = list(audit_head.read_heads(heads_file, key))
    assert lines[-1].head.seq == head["seq"] and lines[-1].head.row_hash == head["row_hash"]
    assert audit.verify(engine, heads=lines) == head["seq"]

    partnering.add_partner(engine, "lender", "Lender", "admin")
    partner_key = partnering.issue_key(engine, "lender", ["decisions"], "admin").secret
    person_token = authentication.issue_person_token(engine, "P001")
    for credential in (partner_key, person_token):
        seen = client.get("/v1/audit/head", headers={"Authorization": f"Bearer {credential}"})
        assert seen.status_code == 200, seen.text
        assert seen.json()["public_key"] == head["public_key"]
