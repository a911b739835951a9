"""Free-form JSON: for values whose shape depends on what they hold, such as what a reader was
shown or the fields of an event (which depend on its kind). Records with a known shape are
typed records, never these."""

from __future__ import annotations

from typing import TypeAlias

from pydantic import JsonValue

__all__ = ["JsonObject", "JsonValue"]

JsonObject: TypeAlias = dict[str, JsonValue]
