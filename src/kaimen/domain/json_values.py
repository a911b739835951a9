"""Free-form JSON: for values whose shape depends on what they hold, such as what a reader was
shown or the fields of an event (which depend on its kind). Records with a known shape are
typed records, never these."""

from __future__ import annotations

from typing import Any, TypeAlias

from pydantic import JsonValue

__all__ = ["DuplicateKey", "JsonObject", "JsonValue", "unique_members"]

JsonObject: TypeAlias = dict[str, JsonValue]


class DuplicateKey(ValueError):
    """A JSON object names a key twice. Python's `json` keeps the last, so `{"person_id": "A",
    ..., "person_id": "B"}` would be read as about B, while a proxy, a log or a signature check
    that keeps the first reads it as about A: refused wherever kaimen reads JSON (a request's
    body, a line of a JSON Lines file)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """`json.loads`'s `object_pairs_hook` that refuses a key named twice (`DuplicateKey`)."""
    members = dict(pairs)
    if len(members) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKey(key)
            seen.add(key)
    return members
