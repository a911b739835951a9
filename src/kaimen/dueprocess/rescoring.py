"""Re-scoring the people a due-process step touched, the moment it commits.

One person's re-score is small work, so it always runs on embedded DuckDB, whatever engine
the monthly batch uses: the expressions are the batch's own (the Spark parity test shows
both engines give the same scores).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Rescoring:
    """What a due-process service needs to re-score the people its change touched: the lake
    their events are in and the profile whose rules count them. Every door passes one."""

    lake_root: Path
    profile: Profile


def rescore_touched(
    engine: Engine,
    rescoring: Rescoring | None,
    person_ids: Iterable[str],
    cause: str,
    cause_ref: str,
    note: str,
    actor: str,
    now: dt.datetime | None,
) -> tuple[Revision, ...]:
    """`rescore_now` for a service given a `Rescoring`; nothing without one (a caller that
    only stores, such as a bulk load the monthly batch will score)."""
    if rescoring is None:
        return ()
    return rescore_now(
        engine,
        rescoring.lake_root,
        rescoring.profile,
        person_ids,
        cause,
        cause_ref,
        note,
        actor,
        now or dt.datetime.now(dt.UTC),
    )
