"""Partners and their API keys: ids checked, a key shown once and kept only as a hash, and a
revoked, wrong or malformed key never authenticates."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, select

from kaimen.store import partners
from kaimen.store.partners import PartnerRejected, UnknownKey
from kaimen.store.tables import api_keys
from tests.store.store_rows import T0, add_partners

LATER = T0 + dt.timedelta(hours=1)


def test_partners_are_added_listed_and_found(engine: Engine) -> None:
    with engine.begin() as connection:
        added = partners.add(connection, "rent-co", "  Rent Co  ", T0)
        partners.add(connection, "bank-a", "Bank A", T0)
    assert added == partners.Partner("rent-co", "Rent Co", T0)
    with engine.connect() as connection:
        assert partners.get(connection, "rent-co") == added
        assert partners.get(connection, "nobody") is None
        assert [p.partner_id for p in partners.all_partners(connection)] == ["bank-a", "rent-co"]


@pytest.mark.parametrize(
    ("partner_id", "name", "problem"),
    [
        ("Bank-A", "Bank A", "lower-case"),
        ("ab", "Bank A", "3-64"),
        ("-bank", "Bank A", "starting and ending"),
        ("b" * 65, "Bank A", "3-64"),
        ("bank-b", "   ", "1-200 characters"),
        ("bank-b", "x" * 201, "1-200 characters"),
        ("bank-b", "Bank\u202eB", "control or invisible"),
        ("bank-a", "Another Bank A", "already exists"),
    ],
)
def test_a_bad_or_taken_partner_is_refused(
    engine: Engine, partner_id: str, name: str, problem: str
) -> None:
    add_partners(engine, "bank-a")
    with pytest.raises(PartnerRejected, match=problem), engine.begin() as connection:
        partners.add(connection, partner_id, name, LATER)
    with engine.connect() as connection:
        assert [p.partner_id for p in partners.all_partners(connection)] == ["bank-a"]


def test_a_key_authenticates_as_issued_and_only_its_hash_is_kept(engine: Engine) -> None:
    add_partners(engine, "bank-a")
    with engine.begin() as connection:
        record, key = partners.issue_key(connection, "bank-a", ["reports", "decisions"], T0)
    assert record == partners.ApiKey(record.key_id, "bank-a", ("decisions", "reports"), T0, None)
    prefix = f"kmk_{record.key_id}_"
    assert key.startswith(prefix)
    secret = key[len(prefix) :]
    assert len(secret) == 43
    with engine.connect() as connection:
        assert partners.authenticate(connection, key) == record
        stored = connection.execute(select(api_keys)).one()
    assert secret not in " ".join(str(value) for value in stored)


def test_only_the_exact_live_key_authenticates(engine: Engine) -> None:
    add_partners(engine, "bank-a")
    with engine.begin() as connection:
        record, key = partners.issue_key(connection, "bank-a", ["events"], T0)
        _, other = partners.issue_key(connection, "bank-a", ["events"], T0)
    prefix = f"kmk_{record.key_id}_"
    wrong_secret = prefix + other[len(prefix) :]
    unknown_id = "kmk_" + "0" * 16 + key[len(prefix) - 1 :]
    with engine.connect() as connection:
        for presented in (wrong_secret, unknown_id, key + "x", key[:-1], "", "Bearer " + key):
            assert partners.authenticate(connection, presented) is None, presented
    with engine.begin() as connection:
        revoked = partners.revoke_key(connection, record.key_id, LATER)
    assert revoked.revoked_at == LATER
    with engine.connect() as connection:
        assert partners.authenticate(connection, key) is None
        assert partners.authenticate(connection, other) is not None


def test_revoking_twice_or_an_unknown_key_is_an_error(engine: Engine) -> None:
    add_partners(engine, "bank-a")
    with engine.begin() as connection:
        record, _ = partners.issue_key(connection, "bank-a", ["events"], T0)
        partners.revoke_key(connection, record.key_id, LATER)
    with pytest.raises(PartnerRejected, match="already revoked"), engine.begin() as connection:
        partners.revoke_key(connection, record.key_id, LATER + dt.timedelta(hours=1))
    with pytest.raises(UnknownKey), engine.begin() as connection:
        partners.revoke_key(connection, "0" * 16, LATER)
    with engine.connect() as connection:
        [kept] = partners.keys_of(connection, "bank-a")
    assert kept.revoked_at == LATER  # the first revocation's time stands


@pytest.mark.parametrize(
    ("partner_id", "scopes", "problem"),
    [
        ("nobody", ["events"], "no partner nobody"),
        ("bank-a", ["events", "everything", "admin"], r"unknown scope\(s\) admin, everything"),
        ("bank-a", [], "at least one scope"),
    ],
)
def test_a_key_for_no_partner_or_no_known_scope_is_refused(
    engine: Engine, partner_id: str, scopes: list[str], problem: str
) -> None:
    add_partners(engine, "bank-a")
    with pytest.raises(PartnerRejected, match=problem), engine.begin() as connection:
        partners.issue_key(connection, partner_id, scopes, T0)
    with engine.connect() as connection:
        assert partners.keys_of(connection, "bank-a") == []


def test_a_partners_keys_oldest_first_and_no_one_elses(engine: Engine) -> None:
    add_partners(engine, "bank-a", "rent-co")
    with engine.begin() as connection:
        second, _ = partners.issue_key(connection, "bank-a", ["feedback"], LATER)
        first, _ = partners.issue_key(connection, "bank-a", ["events", "events"], T0)
        partners.issue_key(connection, "rent-co", ["events"], T0)
    assert first.scopes == ("events",)
    with engine.connect() as connection:
        assert partners.keys_of(connection, "bank-a") == [first, second]
        assert partners.keys_of(connection, "nobody") == []
