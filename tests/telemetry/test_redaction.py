"""The last line of defence masks what must never be logged and leaves ids alone."""

from __future__ import annotations

import secrets

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kaimen.domain.national_id import check_character
from kaimen.telemetry import redaction
from kaimen.telemetry.redaction import is_clean, redact

NATIONAL_ID = "11010519491231002X"


def _national_id(birth: str) -> str:
    body = "110101" + birth + "123"
    return body + check_character(body)


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ("phone +8613800138000 refused", "13800138000"),
        ("phone 13800138000", "13800138000"),
        ("phone 138 0013 8000", "138 0013 8000"),
        ("phone 138-0013-8000", "138-0013-8000"),
        ("电话13912345678。", "13912345678"),
        ("intl +442071838750", "+442071838750"),
        (f"id {NATIONAL_ID}", NATIONAL_ID),
        (f"id {NATIONAL_ID.lower()}", NATIONAL_ID.lower()),
        (f'{{"value":"{_national_id("19900307")}"}}', _national_id("19900307")),
        ("Authorization: Bearer an-admin-token-of-some-length", "an-admin-token-of-some-length"),
        ("authorization=bearer abc.def", "abc.def"),
        # Fixed, not random: parameters are test ids, which every xdist worker must agree on.
        (
            "key kmk_0123456789abcdef_1FPtRwQnPtMX_qBLN-EcL_7A_jD7zrJxNNSGlRzacvY",
            "kmk_0123456789abcdef",
        ),
        ("UNIQUE failed\n[parameters: ('+8613800138000', 'x')]\n(Background", "'x'"),
        ("DETAIL:  Key (phone_hash)=(abc) already exists.", "phone_hash)=(abc"),
    ],
)
def test_sensitive_patterns_are_masked(text: str, hidden: str) -> None:
    masked = redact(text)
    assert hidden not in masked
    assert not is_clean(text)


def test_tokens_are_masked_wherever_they_stand() -> None:
    for _ in range(200):
        token = secrets.token_urlsafe(32)
        assert token not in redact(f'"request to x with {token}"')
        assert token not in redact(f"person:{token},")


def test_named_secrets_are_masked_whatever_they_look_like() -> None:
    assert "short-admin-secret" not in redact("token short-admin-secret", ["short-admin-secret"])


@pytest.mark.parametrize(
    "text",
    [
        "S2026-00000001 scored",
        "scorecard-2026-10-1a2b3c4d",
        "lightgbm-2026-10-1a2b3c4d",
        "sha256 " + "ab12" * 16,
        "events/month=2026-10/part-0123456789abcdef0123456789abcdef.parquet",
        "took 1234567.8 ms for 13,800,138 rows",
        "2026-11-01T12:00:00.000+00:00",
        "partner:car-rental audit scores.published",
        "key 0123456789abcdef revoked",
    ],
)
def test_ids_hashes_versions_and_counts_are_kept(text: str) -> None:
    assert redact(text) == text


def test_bare_hex_ids_can_look_like_a_phone_and_prefixed_ones_cannot() -> None:
    assert not is_clean("16736658206c4c52845800b2f6b7ad9f")
    assert is_clean("r16736658206c4c52845800b2f6b7ad9f")


def _by_patterns_alone(text: str) -> str:
    """`redact` without its shortcuts: every pattern run on the whole text."""
    lowered = text.lower()
    if "bearer" in lowered or "basic" in lowered:
        text = redaction._CREDENTIAL.sub(r"\1 [redacted]", text)
    for needle, pattern, replacement in redaction._RULES:
        if needle in text:
            text = pattern.sub(replacement, text)
    text = redaction._TOKEN.sub("[token]", text)
    return redaction._NUMBER.sub(redaction._number, text)


# Runs of what the patterns read (cases, digits, `_`, `-`, `+`), long and short, between the
# characters that end them; non-ASCII now and then (the shortcut is for ASCII text only).
_PIECES = st.one_of(
    st.text(alphabet="aAzZ09_-", min_size=28, max_size=40),
    st.text(alphabet="0123456789", min_size=14, max_size=20),
    st.text(alphabet="0123456789", min_size=17, max_size=17).map(lambda digits: digits + "X"),
    st.text(alphabet="0123456789 -+xX", max_size=20),
    st.text(alphabet="abcdef0123456789", min_size=30, max_size=36),
    st.sampled_from(['"', ":", ",", " ", "{", "}", "/", ".", "é", "r", "电话"]),
)


@settings(max_examples=2000, deadline=None)
@given(st.lists(_PIECES, max_size=8).map("".join))
def test_the_shortcuts_change_nothing(text: str) -> None:
    assert redact(text) == _by_patterns_alone(text)


def test_an_api_line_is_left_as_it_is_and_a_token_in_one_is_masked() -> None:
    line = (
        '{"time":"2026-12-06T06:31:00.594+00:00","level":"INFO","logger":"kaimen.http",'
        '"message":"POST /v1/decisions 200","request_id":"r%s","method":"POST",'
        '"route":"/v1/decisions","status":200,"duration_ms":1.2}'
    )
    assert redact(line % ("0123456789abcdef" * 2)) == line % ("0123456789abcdef" * 2)
    token = "Ab" * 16
    assert redact(line % token) == line.replace("r%s", "[token]")
