"""What publication makes of one person's card score: the court listings' deduction, then
their friends' points, exactly as the monthly batch and the re-score apply them.

A what-if moves the card's score, but the score a person is shown is the card's with these
two applied (and the excluded events already left out of the features). Rather than restate
either rule, every card score from 350 to 950 goes through the batch's own code
(`court_penalty.apply`, then `connections_added.apply` with the friends' points before the
band rule that the publication stored with the snapshot) as one table of 601 rows, all the
person's: one vectorised pass gives the published score of each card score. No lake file is
read: a snapshot published before those points were kept (0034) has them worked out again
from the friend links (`connections_added.add_friends`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import ibis
import numpy as np
import pyarrow as pa
from sqlalchemy import Engine

from kaimen.domain.connections import NEUTRAL_SUB_SCORE
from kaimen.domain.profiles import Profile
from kaimen.domain.scores import SCORE_MAX, SCORE_MIN, Dimension, band_of
from kaimen.scoring import connections_added, court_penalty
from kaimen.store import connections as connection_rows
from kaimen.store.connections import FRIENDS_SCHEMA

_CARD_SCORES = tuple(range(SCORE_MIN, SCORE_MAX + 1))
_BANDS = tuple(band_of(s).name for s in _CARD_SCORES)


@dataclass(frozen=True)
class PublishedScores:
    """The published score of each card score, for one person as things stand now."""

    scores: tuple[int, ...]  # at [card score - 350]

    def of(self, card_score: int) -> int:
        """The score published for `card_score` (350-950, as the card publishes it)."""
        return self.scores[card_score - SCORE_MIN]

    def card_score_for(self, target: int) -> int | None:
        """The lowest card score whose published score reaches `target`; None when none
        does. Both steps only ever keep the order of scores (a deduction never below 350,
        friends' points cut to the band), so the published scores rise with the card's."""
        reaching = np.flatnonzero(np.asarray(self.scores) >= target)
        return None if reaching.size == 0 else SCORE_MIN + int(reaching[0])


def published_scores(
    engine: Engine,
    backend: ibis.BaseBackend,
    lake_root: Path,
    profile: Profile,
    month: str,
    model_version: str,
    person_id: str,
) -> PublishedScores:
    """What each card score of `person_id`'s snapshot of `month` by `model_version` would be
    published as now."""
    rules = profile.connections
    with engine.connect() as store:
        deductions = court_penalty.deductions(store, profile, person_id)
        stored = connection_rows.points_of(store, person_id, month, model_version)
    rows = len(_CARD_SCORES)
    table = pa.table(
        {
            "person_id": pa.array([person_id] * rows, pa.string()),
            "score": pa.array(_CARD_SCORES, pa.int64()),
            "band": pa.array(_BANDS, pa.string()),
            "reasons": pa.array(["[]"] * rows, pa.string()),
            Dimension.CONNECTIONS.value: pa.array([NEUTRAL_SUB_SCORE] * rows, pa.int64()),
        }
    )
    table = court_penalty.apply(table, deductions)
    if not rules.allowed or stored is None:
        pass  # friends added nothing to the snapshot (not opted in then, or no score)
    elif stored.points_before_band is not None:
        friends = pa.table(
            {
                "person_id": [person_id],
                "points": [stored.points_before_band],
                "friends_counted": [stored.friends_counted],
            },
            schema=FRIENDS_SCHEMA,
        )
        table = connections_added.apply(table, friends, rules).table
    else:  # published before the points before the band were kept: work them out again
        table = connections_added.add_friends(
            engine, backend, lake_root, profile, month, table, [person_id]
        ).table
    return PublishedScores(tuple(int(s) for s in table.column("score").to_pylist()))
