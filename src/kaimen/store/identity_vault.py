"""Protecting identity values at rest: a keyed hash to find them, encryption to keep them.

One 32-byte master secret yields two independent keys (HKDF-SHA256): one for HMAC-SHA256
lookup hashes, one for AES-256-GCM. Neither the hash nor the ciphertext reveals the value
without the secret, and the same value always hashes the same, so uniqueness holds in SQL.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from kaimen.domain.errors import ConfigurationError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

# The keys are derived, and `cryptography` imported, on first use: every command opens the
# vault with its workspace, and most (`kaimen show`) never hash or encrypt a value.

SECRET_BYTES = 32
NONCE_BYTES = 12
_SHA256_BLOCK = 64


def _derive(secret: bytes, purpose: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(secret)


class IdentityVault:
    """Hashes and encrypts identity values with keys derived from one secret."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) != SECRET_BYTES:
            raise ConfigurationError(
                f"the secret key must be {SECRET_BYTES} bytes (base64 in KAIMEN_SECRET_KEY)"
            )
        self._secret = secret

    def __repr__(self) -> str:
        return "IdentityVault(<keys redacted>)"

    @functools.cached_property
    def _hash_key(self) -> bytes:
        return _derive(self._secret, b"kaimen identity lookup v1")

    @functools.cached_property
    def _hmac_key_block(self) -> bytes:
        """The lookup key padded to SHA-256's 64-byte block, as HMAC keys its two states."""
        return self._hash_key.ljust(_SHA256_BLOCK, b"\0")

    @functools.cached_property
    def _aead(self) -> AESGCM:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        return AESGCM(_derive(self._secret, b"kaimen identity encryption v1"))

    def lookup_hash(self, kind: str, value: str) -> str:
        """Hex HMAC of `kind:value`; kinds never collide with each other."""
        return self.lookup_hashes(kind, [value])[0]

    def lookup_hashes(self, kind: str, values: Sequence[str]) -> list[str]:
        """`lookup_hash` of each value, in one tight loop. HMAC (RFC 2104) is built from two
        SHA-256 states keyed once (the inner one has also taken the kind's prefix) and copied
        per value: half the cost of the one-shot `hmac.digest`, which keys both again for
        every value. The same bytes as `hmac.digest(key, f"{kind}:{value}", sha256)`."""
        inner = hashlib.sha256(bytes(b ^ 0x36 for b in self._hmac_key_block))
        outer = hashlib.sha256(bytes(b ^ 0x5C for b in self._hmac_key_block))
        inner.update(f"{kind}:".encode())
        hashes: list[str] = []
        append, inner_copy, outer_copy = hashes.append, inner.copy, outer.copy
        for value in values:
            state = inner_copy()
            state.update(value.encode())
            final = outer_copy()
            final.update(state.digest())
            append(final.hexdigest())
        return hashes

    def encrypt(self, kind: str, value: str) -> str:
        """Base64 of nonce + AES-GCM ciphertext, bound to `kind`."""
        return self.encrypt_many(kind, [value])[0]

    def encrypt_many(self, kind: str, values: Sequence[str]) -> list[str]:
        """`encrypt` of each value, each under its own random nonce (all drawn at once)."""
        drawn = os.urandom(NONCE_BYTES * len(values))
        nonces = [drawn[at : at + NONCE_BYTES] for at in range(0, len(drawn), NONCE_BYTES)]
        seal, bound, encode = self._aead.encrypt, kind.encode(), binascii.b2a_base64
        return [
            encode(nonce + seal(nonce, value.encode(), bound), newline=False).decode("ascii")
            for nonce, value in zip(nonces, values, strict=True)
        ]

    def decrypt(self, kind: str, token: str) -> str:
        return self.decrypt_many(kind, [token])[0]

    def decrypt_many(self, kind: str, tokens: Sequence[str]) -> list[str]:
        """`decrypt` of each token, in one tight loop (the values are for memory only)."""
        open_, bound, decode = self._aead.decrypt, kind.encode(), binascii.a2b_base64
        values: list[str] = []
        for token in tokens:
            raw = decode(token)
            values.append(open_(raw[:NONCE_BYTES], raw[NONCE_BYTES:], bound).decode())
        return values


def decode_secret(text: str) -> bytes:
    """The 32 bytes of a base64 secret, or a `ConfigurationError` saying what is wrong."""
    try:
        secret = base64.b64decode(text.strip(), validate=True)
    except ValueError as exc:
        raise ConfigurationError("KAIMEN_SECRET_KEY is not valid base64") from exc
    if len(secret) != SECRET_BYTES:
        raise ConfigurationError(
            f"KAIMEN_SECRET_KEY must decode to {SECRET_BYTES} bytes, not {len(secret)}"
        )
    return secret


def new_secret() -> str:
    """A fresh random secret, base64-encoded."""
    return base64.b64encode(os.urandom(SECRET_BYTES)).decode("ascii")
