"""A person's name as given at enrolment: Hanzi (王小明), Pinyin (Wang Xiaoming, Wáng
Xiǎomíng) or a minority name with a middle dot (买买提·艾力).

Optional, and protected like the phone and the ID number (an `identities` row of kind
`name`): the probabilistic matching of court listings compares it. Whitespace runs become one
space and the ends are trimmed; what is left must be 1-64 characters, each a letter (any
script: CJK ideographs are letters) or one of space, hyphen, apostrophe and middle dot, with at
least one letter. Digits, punctuation and control characters are refused, so a name never
carries anything but a name.

`WHITESPACE` and `ALLOWED` are RE2 patterns, shared by the one-name check here and the bulk
check of enrolment files (Arrow), so both refuse the same names.
"""

from __future__ import annotations

import re
import unicodedata

from kaimen.domain.errors import IdentityRejected

NAME_KIND = "name"
MAX_NAME_CHARACTERS = 64
# Space, tab, line breaks, the no-break space and the ideographic (full-width) space.
WHITESPACE = r"[\t\n\x{0B}\f\r \x{A0}\x{3000}]+"
# Hyphen, apostrophes (straight and typographic) and middle dots (Latin and Japanese forms).
MARKS = "\\-'\u2019\u00b7\u30fb"
ALLOWED = rf"^[\p{{L}} {MARKS}]*\p{{L}}[\p{{L}} {MARKS}]*$"
NAME_REASON = "name_format"
LENGTH_MESSAGE = f"a name is 1-{MAX_NAME_CHARACTERS} characters"
CHARACTERS_MESSAGE = (
    "a name holds letters (Hanzi or Pinyin), spaces, hyphens, apostrophes and middle dots only"
)

_WHITESPACE = re.compile("[\t\n\x0b\f\r \u00a0\u3000]+")
_MARK_SET = frozenset(" -'\u2019\u00b7\u30fb")


def normalise_name(text: str) -> str:
    """NFC, whitespace runs as one space, ends trimmed (what the store keeps)."""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFC", text)).strip()


def check_name(text: str) -> str:
    """`text` normalised, or `IdentityRejected` (reason `name_format`) saying what is wrong."""
    name = normalise_name(text)
    if not 1 <= len(name) <= MAX_NAME_CHARACTERS:
        raise IdentityRejected(NAME_REASON, LENGTH_MESSAGE)
    if not any(c.isalpha() for c in name) or not all(c.isalpha() or c in _MARK_SET for c in name):
        raise IdentityRejected(NAME_REASON, CHARACTERS_MESSAGE)
    return name
