"""A statement that fails leaves none of its values in the log: not in the error's text, not
in the traceback the log writes (identity lookup hashes and ciphertexts are what it held)."""

from __future__ import annotations

import datetime as dt
import io
import logging

import pytest
from sqlalchemy import Engine, insert
from sqlalchemy.exc import IntegrityError

from kaimen.store import people
from kaimen.store.database import connect
from kaimen.store.identity_vault import IdentityVault
from kaimen.store.tables import identities
from kaimen.telemetry.logs import JsonFormatter

NOW = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)


def _logged(error: BaseException) -> str:
    """What the server's log handler writes for `error` logged with its traceback."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("tests.hidden_parameters")
    log.addHandler(handler)
    try:
        log.error("the statement failed", exc_info=error)
    finally:
        log.removeHandler(handler)
    return out.getvalue()


def test_every_engine_hides_parameters(database_url: str) -> None:
    engine = connect(database_url)
    try:
        assert engine.hide_parameters
    finally:
        engine.dispose()


def test_a_failing_insert_logs_neither_hash_nor_ciphertext(
    engine: Engine, vault: IdentityVault
) -> None:
    digest = vault.lookup_hashes("cn_resident_id", ["110101199003071230"])[0]
    cipher = vault.encrypt_many("cn_resident_id", ["110101199003071230"])[0]
    phone_digest = vault.lookup_hashes("phone", ["13800001234"])[0]
    phone_cipher = vault.encrypt_many("phone", ["13800001234"])[0]
    new = people.NewPeople(
        ["p-hidden"], ["1990-03-07"], [digest], [cipher], [phone_digest], [phone_cipher]
    )
    with engine.begin() as store:
        people.insert_many(store, new, NOW)
    # Once through the bulk path, once through SQLAlchemy's own statement.
    with pytest.raises(IntegrityError) as bulk, engine.begin() as store:
        people.insert_many(store, new, NOW)
    with pytest.raises(IntegrityError) as single, engine.begin() as store:
        store.execute(
            insert(identities).values(
                person_id="p-hidden",
                kind="cn_resident_id",
                lookup_hash=digest,
                encrypted_value=cipher,
                created_at=NOW,
            )
        )
    assert "hidden due to hide_parameters" in str(single.value)
    for error in (bulk.value, single.value):
        written = _logged(error)
        assert "IntegrityError" in written
        for value in (digest, cipher, phone_digest, phone_cipher):
            assert value not in written
