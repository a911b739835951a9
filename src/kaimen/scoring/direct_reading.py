"""`read_score` for the command line: the same view and the same access-log row, read and
written through the database driver alone (`store.score_read_path`), so `kaimen show` starts
without importing SQLAlchemy."""

from __future__ import annotations

import datetime as dt

from kaimen.domain.callers import Caller
from kaimen.scoring.score_views import (
    ADMINISTRATION,
    Correction,
    NoScore,
    ScoreView,
    shown,
    view_of,
)
from kaimen.store.score_read_path import score_reader


def read_score_at(
    database_url: str, person_id: str, reader: Caller, now: dt.datetime | None = None
) -> ScoreView:
    """As `reading.read_score`, on the store at `database_url` (refused, with `StoreNotReady`,
    when its schema is not at the newest revision: migrating is for the other commands)."""
    with score_reader(database_url) as store:
        corrections = [
            Correction(
                r.revised_at.isoformat(), r.month, r.score_before, r.score_after, r.cause, r.note
            )
            for r in store.revisions(person_id)
        ]
        view = view_of(person_id, store.history(person_id), corrections)
        if view is None:
            raise NoScore(f"no published score for {person_id}")
        if not reader.is_person(person_id):
            store.record_if_active(
                person_id,
                reader.actor,
                ADMINISTRATION,
                "score",
                shown(view),
                now or dt.datetime.now(dt.UTC),
            )
    return view
