"""How many people's latest published scores meet an offer's thresholds: one query over the
snapshots, counted in the database."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, and_, case, func, literal, select

from kaimen.domain.scores import Dimension
from kaimen.store.tables import score_runs, score_snapshots


@dataclass(frozen=True)
class Floor:
    """What a snapshot must reach: a score (the offer's minimum, raised to its band's floor)
    and sub-scores."""

    min_score: int
    min_dimensions: Mapping[Dimension, int] = field(default_factory=dict)


def count_meeting(connection: Connection, floors: Sequence[Floor]) -> list[int]:
    """For each floor, the number of people whose latest published snapshot (latest model of
    their newest month, the one a decision reads) meets it; a thin file meets none.

    One pass over the snapshots whatever the number of floors: each is a conditional sum
    over the same window, so the console's list of offers costs one query."""
    if not floors:
        return []
    s = score_snapshots.c
    newest_first = func.row_number().over(
        partition_by=s.person_id, order_by=(s.month.desc(), score_runs.c.published_at.desc())
    )
    latest = (
        select(
            s.score,
            *(s[d.value] for d in Dimension),
            newest_first.label("rank"),
        )
        .join(
            score_runs,
            and_(score_runs.c.month == s.month, score_runs.c.model_version == s.model_version),
        )
        .subquery()
    )
    sums = []
    for floor in floors:
        conditions = [latest.c.score.is_not(None), latest.c.score >= floor.min_score]
        conditions += [latest.c[d.value] >= minimum for d, minimum in floor.min_dimensions.items()]
        sums.append(func.coalesce(func.sum(case((and_(*conditions), 1), else_=0)), literal(0)))
    row = connection.execute(select(*sums).where(latest.c.rank == 1)).one()
    return [int(value) for value in row]
