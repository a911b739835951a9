"""Re-scoring the people a due-process step touched, the moment it commits.

One person's re-score is small work, so it always runs on embedded DuckDB, whatever engine
the monthly batch uses: the expressions are the batch's own (the Spark parity test shows
both engines give the same scores).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import Engine

from kaimen.domain.profiles import Profile
from kaimen.engines.embedded import ibis_connection
from kaimen.scoring.rescore import rescore_people
from kaimen.store.score_revisions import Revision


def rescore_now(
    engine: Engine,
    lake_root: Path,
    profile: Profile,
    person_ids: Iterable[str],
    cause: str,
    cause_ref: str,
    note: str,
    actor: str,
    now: dt.datetime,
) -> tuple[Revision, ...]:
    """Re-score each person with a published score and publish in place (people with none
    yet are left to their first monthly run)."""
    people = tuple(dict.fromkeys(person_ids))
    if not people:
        return ()
    backend = ibis_connection()
    return tuple(
        rescore_people(
            engine, backend, lake_root, profile, people, cause, cause_ref, note, actor, now
        )
    )
