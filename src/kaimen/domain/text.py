"""Checks for free text that partners write and people read."""

from __future__ import annotations

import unicodedata


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
