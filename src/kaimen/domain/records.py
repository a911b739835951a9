"""The base of records that are written as JSON and read back (model metrics, model cards)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class FrozenRecord(BaseModel):
    """Frozen, and refuses keys it does not know: a misspelt key is an error, not a loss."""

    model_config = ConfigDict(frozen=True, extra="forbid")
