"""Phone numbers, normalised to E.164 (`+8613812345678`)."""

from __future__ import annotations

import re

from kaimen.domain.errors import IdentityRejected

_SEPARATORS = re.compile(r"[\s\-().]")
_E164 = re.compile(r"\+[1-9][0-9]{7,14}")
_CN_MOBILE = re.compile(r"1[3-9][0-9]{9}")


def normalise_phone(value: str) -> str:
    """E.164 form of `value`; a bare 11-digit mainland mobile number gets +86.

    Raises `IdentityRejected` with reason `phone_format` for anything else.
    """
    compact = _SEPARATORS.sub("", value or "")
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if _CN_MOBILE.fullmatch(compact):
        compact = "+86" + compact
    if not _E164.fullmatch(compact) or not compact[1:].isascii():
        raise IdentityRejected(
            "phone_format",
            "phone must be an international number (+ and 8-15 digits) "
            "or an 11-digit mainland mobile number",
        )
    if compact.startswith("+86") and not _CN_MOBILE.fullmatch(compact[3:]):
        raise IdentityRejected(
            "phone_format", "a +86 phone must be an 11-digit mobile number starting 13-19"
        )
    return compact
