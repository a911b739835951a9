"""The last line of defence: patterns that must never reach a log line, masked.

kaimen's code logs ids, counts and reason codes only. These rules catch what slips through
anyway (an exception text, a third-party library's message): phone numbers, resident ID
numbers, bearer credentials and API keys, and the parameters of SQL statements.
"""

from __future__ import annotations

import re
from collections.abc import Collection

_NOT_ALNUM_BEFORE = r"(?<![0-9A-Za-z])"
_NOT_ALNUM_AFTER = r"(?![0-9A-Za-z])"
_URL_SAFE = "A-Za-z0-9_-"

_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    # SQLAlchemy appends the bound values of a failed statement to its error text, and
    # PostgreSQL's DETAIL line repeats the offending key's value.
    (re.compile(r"\[parameters: [^\n]*"), "[parameters: redacted]"),
    (re.compile(r"DETAIL:[^\n]*"), "DETAIL: [redacted]"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 [redacted]"),
    (re.compile(r"kmk_[A-Za-z0-9_-]*"), "kmk_[redacted]"),
    # Person and generated admin tokens: long URL-safe runs with both cases, which no id,
    # hash or version kaimen logs has (those are lower-case or short).
    (
        re.compile(
            rf"(?<![{_URL_SAFE}])(?=[{_URL_SAFE}]*[a-z])(?=[{_URL_SAFE}]*[A-Z])"
            rf"[{_URL_SAFE}]{{32,}}(?![{_URL_SAFE}])"
        ),
        "[token]",
    ),
    (re.compile(rf"{_NOT_ALNUM_BEFORE}[0-9]{{17}}[0-9Xx]{_NOT_ALNUM_AFTER}"), "[national-id]"),
    # A mainland mobile number, bare, with 86 or +86, or spaced as people write it.
    (
        re.compile(rf"{_NOT_ALNUM_BEFORE}(?:\+?86[ -]?)?1[3-9][0-9](?:[ -]?[0-9]){{8}}(?![0-9])"),
        "[phone]",
    ),
    (re.compile(rf"{_NOT_ALNUM_BEFORE}\+[1-9][0-9]{{7,14}}(?![0-9])"), "[phone]"),
)


def redact(text: str, secrets: Collection[str] = ()) -> str:
    """`text` with every sensitive pattern, and each of `secrets`, masked."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[secret]")
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


def is_clean(text: str) -> bool:
    """True when redaction would leave `text` as it is."""
    return redact(text) == text
