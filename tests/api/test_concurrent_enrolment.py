"""Six identical enrolments at once, through a real server: one is enrolled, the others hear
of the conflict, nothing fails, and the server's log holds none of the statements' values."""

from __future__ import annotations

import http.client
import json
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

from sqlalchemy import Engine, func, select

from kaimen.api.app import create_app
from kaimen.config import Settings
from kaimen.store.identity_vault import IdentityVault
from kaimen.store.tables import identities
from tests.api.conftest import TOKEN
from tests.api.live import served
from tests.conftest import make_national_id

PORT = 8631
AT_ONCE = 6


def _enrol(body: bytes, ready: Barrier) -> tuple[int, dict[str, object]]:
    connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
    connection.connect()
    ready.wait()  # every request on its way at the same moment
    connection.request(
        "POST",
        "/v1/people",
        body,
        {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    response = connection.getresponse()
    answer = json.loads(response.read())
    connection.close()
    return response.status, answer


def test_identical_enrolments_at_once_give_one_201_and_conflicts(
    settings: Settings, engine: Engine, vault: IdentityVault
) -> None:
    national_id = make_national_id(birth="19850612", sequence="417")
    phone = "13912345678"
    body = json.dumps({"phone": phone, "national_id": national_id}).encode()
    app = create_app(settings)
    try:
        with served(app, PORT) as log:
            ready = Barrier(AT_ONCE)
            with ThreadPoolExecutor(AT_ONCE) as pool:
                answers = list(pool.map(lambda _: _enrol(body, ready), range(AT_ONCE)))
    finally:
        app.state.workspace.engine.dispose()

    statuses = sorted(status for status, _ in answers)
    assert statuses == [201] + [409] * (AT_ONCE - 1), answers
    for status, answer in answers:
        if status == 409:
            assert answer["reason"] == "identity_taken"
            assert "already enrolled" in str(answer["detail"])
    with engine.connect() as store:
        held = store.execute(select(identities.c.lookup_hash, identities.c.encrypted_value)).all()
        assert store.execute(select(func.count()).select_from(identities)).scalar_one() == 2
    # The log holds no value a statement carried: neither hash nor ciphertext, nor the
    # numbers themselves.
    for digest, cipher in held:
        assert digest not in log.text
        assert cipher not in log.text
    assert national_id not in log.text and phone not in log.text
    assert not [r for r in log.records if r.levelname == "ERROR"], log.text
