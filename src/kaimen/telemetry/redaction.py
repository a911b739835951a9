"""The last line of defence: patterns that must never reach a log line, masked.

kaimen's code logs ids, counts and reason codes only. These rules catch what slips through
anyway (an exception text, a third-party library's message): phone numbers, resident ID
numbers, bearer credentials and API keys, and the parameters of SQL statements.
"""

from __future__ import annotations

import re
from collections.abc import Collection

# Each rule: a plain substring that any match contains, so that the regular expression runs
# only on lines that could match; the pattern; and what replaces a match.
_RULES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    # SQLAlchemy appends the bound values of a failed statement to its error text, and
    # PostgreSQL's DETAIL line repeats the offending key's value.
    ("[parameters: ", re.compile(r"\[parameters: [^\n]*"), "[parameters: redacted]"),
    ("DETAIL:", re.compile(r"DETAIL:[^\n]*"), "DETAIL: [redacted]"),
    ("kmk_", re.compile(r"kmk_[A-Za-z0-9_-]*"), "kmk_[redacted]"),
)
# After tokens are masked, so that digits inside a token do not split it first. One pass for
# all three: an ID number, a mainland mobile number (bare, with 86 or +86, or spaced as people
# write it), any other international number.
_NUMBER = re.compile(
    r"(?=[+0-9])(?<![0-9A-Za-z])(?:"
    r"(?P<national_id>[0-9]{17}[0-9Xx](?![0-9A-Za-z]))"
    r"|(?P<mobile>(?:\+?86[ -]?)?1[3-9][0-9](?:[ -]?[0-9]){8}(?![0-9]))"
    r"|(?P<international>\+[1-9][0-9]{7,14}(?![0-9])))"
)
# What every match of `_NUMBER` contains, each searched for from a fixed first character (the
# regular expression engine skips to it): `_NUMBER` itself, which starts with lookarounds, is
# tried at every position of a line, several times the cost of these three searches.
_NUMBER_HINTS = (
    re.compile(r"[0-9][0-9]{16}"),  # a first character alone, for the engine to skip to
    re.compile(r"1[3-9][0-9](?:[ -]?[0-9]){8}"),
    re.compile(r"\+[1-9][0-9]{7}"),
)
_CREDENTIAL = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
# Person and generated admin tokens: whole URL-safe runs of 32 or more with both cases, which
# no id, hash or version kaimen logs has (those are lower-case or short). The lookaheads stay
# inside the run (their classes are the run's), so a run is judged by the pattern alone: a
# function called for every long run cost as much as the rest of a line's redaction, and
# every API line holds one (its request id).
_TOKEN = re.compile(
    r"(?<![A-Za-z0-9_-])(?=[A-Za-z0-9_-]{32})(?=[A-Z0-9_-]*[a-z])(?=[a-z0-9_-]*[A-Z])"
    r"[A-Za-z0-9_-]+"
)


# An ASCII line's characters by the classes `_TOKEN` and the national-id hint tell apart
# (upper- and lower-case letters, digits, `_` and `-`; anything else a space), and by whether
# they are URL-safe at all, for `_runs_clean`: `bytes.translate` and `bytes.find` read a line
# in C, several times faster than a regular expression trying each position in turn (every
# API line holds a run of 33 letters and digits, its request id, which `_TOKEN` and the
# first hint otherwise try at each of its characters).
def _class_of(code: int) -> int:
    character = chr(code)
    if "A" <= character <= "Z":
        return ord("A")
    if "a" <= character <= "z":
        return ord("a")
    if "0" <= character <= "9":
        return ord("0")
    return ord("_") if character in "_-" else ord(" ")


_CLASSES = bytes.maketrans(bytes(range(128)), bytes(_class_of(c) for c in range(128)))
_URL_SAFE = bytes.maketrans(b"Aa0_", b"xxxx")
_LONG_RUN = b"x" * 32
_DIGITS_17 = b"0" * 17


def _runs_clean(text: str) -> bool:
    """True when an ASCII `text` has neither a run `_TOKEN` masks (32 or more URL-safe
    characters, an upper- and a lower-case letter among them) nor 17 digits in a row (which
    every national ID holds): `_TOKEN` and the first number hint would find nothing."""
    classes = text.encode("ascii").translate(_CLASSES)
    if _DIGITS_17 in classes:
        return False
    runs = classes.translate(_URL_SAFE)
    start = runs.find(_LONG_RUN)
    while start >= 0:  # the first position of a run of 32 or more: the run's own start
        end = runs.find(b" ", start)
        run = classes[start:] if end < 0 else classes[start:end]
        if b"A" in run and b"a" in run:
            return False
        if end < 0:
            return True
        start = runs.find(_LONG_RUN, end)
    return True


def _number(match: re.Match[str]) -> str:
    return "[national-id]" if match.group("national_id") else "[phone]"


def redact(text: str, secrets: Collection[str] = ()) -> str:
    """`text` with every sensitive pattern, and each of `secrets`, masked."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[secret]")
    lowered = text.lower()
    if "bearer" in lowered or "basic" in lowered:
        text = _CREDENTIAL.sub(r"\1 [redacted]", text)
    for needle, pattern, replacement in _RULES:
        if needle in text:
            text = pattern.sub(replacement, text)
    hints: tuple[re.Pattern[str], ...]
    if text.isascii() and _runs_clean(text):
        hints = _NUMBER_HINTS[1:]  # the first needs 17 digits in a row
    else:
        text = _TOKEN.sub("[token]", text)
        hints = _NUMBER_HINTS
    if any(hint.search(text) for hint in hints):
        return _NUMBER.sub(_number, text)
    return text


def is_clean(text: str) -> bool:
    """True when redaction would leave `text` as it is."""
    return redact(text) == text
