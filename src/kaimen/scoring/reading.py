"""A person's score as they read it, from the store through SQLAlchemy (the API's and the
services' way); `direct_reading` reads the same through the driver alone."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine

from kaimen.domain.callers import Caller
from kaimen.domain.json_values import JsonObject

# Re-exported: the view's parts, for those who read it through here.
from kaimen.scoring.score_views import ADMINISTRATION, Correction, view_of
from kaimen.scoring.score_views import ExplainedReason as ExplainedReason
from kaimen.scoring.score_views import Month as Month
from kaimen.scoring.score_views import NoScore as NoScore
from kaimen.scoring.score_views import ScoreView as ScoreView
from kaimen.scoring.score_views import reason_text as reason_text
from kaimen.scoring.score_views import shown as shown
from kaimen.store import access_log, score_revisions, scores


def score_view(engine: Engine, person_id: str) -> ScoreView | None:
    """None when the person has no published score yet."""
    with engine.connect() as store:
        snapshots = scores.history(store, person_id)
        revisions = score_revisions.of_person(store, person_id)
    corrections = [
        Correction(
            r.revised_at.isoformat(), r.month, r.score_before, r.score_after, r.cause, r.note
        )
        for r in revisions
    ]
    return view_of(person_id, snapshots, corrections)


def log_read(
    engine: Engine,
    person_id: str,
    reader: Caller,
    what: str,
    disclosed: JsonObject,
    now: dt.datetime | None = None,
) -> None:
    """Put a read by anyone but the person in the person's access log."""
    if reader.is_person(person_id):
        return
    with engine.begin() as store:
        access_log.record_if_active(
            store,
            person_id,
            reader.actor,
            ADMINISTRATION,
            what,
            disclosed,
            now or dt.datetime.now(dt.UTC),
        )


def read_score(engine: Engine, person_id: str, reader: Caller) -> ScoreView:
    """The person's score view for `reader` (the person or the admin: the door decides who
    may ask); a read by anyone but the person goes in their access log."""
    view = score_view(engine, person_id)
    if view is None:
        raise NoScore(f"no published score for {person_id}")
    log_read(engine, person_id, reader, "score", shown(view))
    return view
