"""Court case numbers in the one form they are compared in: a listing's `case_key`, and a
payment reference matched against it (`matching.payments`). Here, under both, because the
store's revision 0035 computes the keys of the listings held before it."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

# Brackets of every width and style that case numbers are written with, and whitespace.
_NOISE = r"[\s()\[\]{}<>〔〕【】〖〗「」『』〈〉《》]"


def normalise_case_numbers(values: pa.Array) -> pa.Array:
    """Case numbers (or reference texts) in the form they are compared in. Spaces between two
    digits separate numbers (a case number, then a phone number) and become `|`; all other
    spaces and brackets go."""
    text = pc.utf8_upper(pc.utf8_normalize(values, form="NFKC"))
    for _ in range(2):  # matches cannot overlap: `1 2 3` needs a second pass
        text = pc.replace_substring_regex(text, r"([0-9])\s+([0-9])", r"\1|\2")
    return pc.replace_substring_regex(text, _NOISE, "")
