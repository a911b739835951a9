"""Checks for free text that partners write and people read, and how much of a refused value
an error repeats."""

from __future__ import annotations

import unicodedata

# An error names what it refused by a short prefix only: answers and logs must not hand back
# (or amplify) whatever was sent, however long.
ECHO_CHARS = 40
ELLIPSIS = "\u2026"


def excerpt(value: str) -> str:
    """`value` as an error may repeat it: whole when short, else its first `ECHO_CHARS`
    characters and an ellipsis."""
    return value if len(value) <= ECHO_CHARS else value[:ECHO_CHARS] + ELLIPSIS


def is_unicode(text: str) -> bool:
    """False for text that cannot be stored (lone surrogates, which JSON can carry)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def readable_problem(text: str) -> str | None:
    """Why `text` is not fit to show a person, or None. Control and format characters (NUL,
    newlines, right-to-left overrides, zero-width spaces) are refused: they can hide or
    reorder what the person reads. Text that is not valid Unicode (lone surrogates) cannot
    be stored."""
    if not is_unicode(text):
        return "is not valid Unicode text"
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in text):
        return "contains control or invisible formatting characters"
    if not text.strip():
        return "is empty"
    return None
