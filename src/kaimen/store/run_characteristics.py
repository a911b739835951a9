"""A run's characteristics (`score_runs.characteristics`): the names its points are listed by.

Apart from `store.scores` so that the driver-only read paths (`score_read_path`,
`decision_path`) decode a snapshot's points without importing SQLAlchemy.
"""

from __future__ import annotations

import json
from functools import lru_cache


@lru_cache(maxsize=256)
def characteristics_of(text: str) -> tuple[str, ...]:
    """The names as stored (a JSON list of text). A run's never change once published, and
    every read of a snapshot needs them: parsed once per run, not once per read."""
    names = json.loads(text)
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"a run's characteristics are a JSON list of names, not {text[:40]!r}")
    return tuple(names)
