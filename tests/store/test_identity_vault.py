import base64
import hashlib
import hmac

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from kaimen.domain.errors import ConfigurationError
from kaimen.store.identity_vault import IdentityVault, decode_secret, new_secret


def hkdf_key(secret: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(secret)


def test_hashes_are_stable_keyed_and_separated_by_kind(vault: IdentityVault) -> None:
    value = "11010519491231002X"
    assert vault.lookup_hash("cn_resident_id", value) == vault.lookup_hash("cn_resident_id", value)
    assert vault.lookup_hash("cn_resident_id", value) != vault.lookup_hash("phone", value)
    other = IdentityVault(bytes(reversed(range(32))))
    assert other.lookup_hash("cn_resident_id", value) != vault.lookup_hash("cn_resident_id", value)
    assert value not in vault.lookup_hash("cn_resident_id", value)


def test_encryption_round_trips_and_never_repeats(vault: IdentityVault) -> None:
    first = vault.encrypt("phone", "+8613800138000")
    second = vault.encrypt("phone", "+8613800138000")
    assert first != second
    assert "13800138000" not in first
    assert vault.decrypt("phone", first) == "+8613800138000"


def test_a_ciphertext_is_bound_to_its_kind(vault: IdentityVault) -> None:
    token = vault.encrypt("phone", "+8613800138000")
    with pytest.raises(Exception):  # noqa: B017 - cryptography's InvalidTag
        vault.decrypt("cn_resident_id", token)


def test_secrets_are_checked() -> None:
    assert len(decode_secret(new_secret())) == 32
    with pytest.raises(ConfigurationError, match="base64"):
        decode_secret("not base64 !!")
    with pytest.raises(ConfigurationError, match="32 bytes"):
        decode_secret(base64.b64encode(b"short").decode())
    with pytest.raises(ConfigurationError):
        IdentityVault(b"short")


def test_bulk_hashes_are_the_keyed_hash_of_kind_and_value(vault: IdentityVault) -> None:
    values = ["11010519491231002X", "+8613800138000", "+8613800138000"]
    hashes = vault.lookup_hashes("phone", values)
    key = hkdf_key(bytes(range(32)), b"kaimen identity lookup v1")
    expected = [hmac.new(key, f"phone:{v}".encode(), hashlib.sha256).hexdigest() for v in values]
    # Values enrolled before the bulk path keep being found.
    assert hashes == expected
    assert vault.lookup_hash("phone", values[0]) == expected[0]


def test_bulk_encryption_uses_a_fresh_nonce_per_value(vault: IdentityVault) -> None:
    values = ["+8613800138000"] * 500
    tokens = vault.encrypt_many("phone", values)
    assert len({base64.b64decode(t)[:12] for t in tokens}) == 500
    assert {vault.decrypt("phone", t) for t in tokens} == {"+8613800138000"}


def test_bulk_hashes_are_the_standard_hmac_of_kind_and_value() -> None:
    """The keyed states copied per value give the bytes of the standard library's HMAC, for
    values of every length around SHA-256's block and beyond ASCII (stored hashes stay valid)."""
    secret = bytes(range(32))
    vault = IdentityVault(secret)
    key = hkdf_key(secret, b"kaimen identity lookup v1")
    values = ["", "+8613800138000", "张三", "x" * 55, "y" * 64, "z" * 200, "11010519491231002X"]
    for kind in ("cn_resident_id", "phone", "name"):
        expected = [
            hmac.digest(key, f"{kind}:{value}".encode(), hashlib.sha256).hex() for value in values
        ]
        assert vault.lookup_hashes(kind, values) == expected
        assert [vault.lookup_hash(kind, value) for value in values] == expected


def test_bulk_encryption_draws_a_nonce_per_value(vault: IdentityVault) -> None:
    values = ["+8613800138000"] * 50 + ["11010519491231002X"]
    tokens = vault.encrypt_many("phone", values)
    assert len(set(tokens)) == len(tokens)
    assert len({base64.b64decode(t)[:12] for t in tokens}) == len(tokens)
    assert vault.decrypt_many("phone", tokens) == values
