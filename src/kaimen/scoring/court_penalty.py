"""An active court listing lowers the score by the profile's `court_listing_penalty`, with a
reason of its own that names the listing in full.

A listing counts while its status restricts (`entered`, `settled-pending`), through a live
identity link, unless a dispute took it (or the link) out of counting: suppressed, or
disputed and pending where the profile does not count a contested item. The deduction is
made once per person, after the model, whatever the number of listings (the reason names the
oldest and how many more there are): the score falls by the same documented amount for
anyone listed, never below 350. It is applied to a snapshot table in one vectorised pass,
the same for the monthly batch and the single-person re-score.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection

from kaimen.domain.court_list import RESTRICTIVE
from kaimen.domain.disputes import ItemKind
from kaimen.domain.profiles import Profile
from kaimen.domain.reasons import COURT_LISTING
from kaimen.domain.scores import SCORE_MAX, SCORE_MIN, band_of
from kaimen.engines.embedded import session
from kaimen.store import court_list, disputes

DEDUCTION_SCHEMA = pa.schema([("person_id", pa.string()), ("reason", pa.string())])
_BAND_OF_SCORE = pa.array([band_of(s).name for s in range(SCORE_MIN, SCORE_MAX + 1)])


@dataclass(frozen=True)
class Deductions:
    """The points to take off and, per listed person, their court reason as JSON text."""

    points: int = 0
    reasons: pa.Table = field(default_factory=DEDUCTION_SCHEMA.empty_table)


def deductions(store: Connection, profile: Profile, person_id: str | None = None) -> Deductions:
    """The court listings that count against scores now (of one person, or everyone's),
    as one reason per listed person, made in one DuckDB query over the store's rows."""
    if profile.court_listing_penalty == 0:
        return Deductions()
    links = court_list.counted_links(store, sorted(RESTRICTIVE), person_id)
    excluded = disputes.excluded_items(store, profile.disputed_counts_while_pending, person_id)
    refs = {kind: [i.item.ref for i in excluded if i.item.kind is kind] for kind in ItemKind}
    keep = pc.invert(
        pc.or_(
            pc.is_in(
                links.column("listing_id"), pa.array(refs[ItemKind.COURT_LISTING], pa.string())
            ),
            pc.is_in(links.column("link_id"), pa.array(refs[ItemKind.IDENTITY_LINK], pa.string())),
        )
    )
    links = links.filter(keep)
    if links.num_rows == 0:
        return Deductions()
    connection = session()
    try:
        connection.register("links", links)
        reasons = connection.sql(
            """
            WITH ranked AS (
                SELECT person_id, count(*) OVER (PARTITION BY person_id) AS listings,
                       'court judgment ' || case_number || ' at ' || court || ', '
                       || format('{:,.2f}', amount) || ' ' || currency || ' unpaid since '
                       || strftime(judgment_date, '%Y-%m-%d') AS text,
                       row_number() OVER (
                           PARTITION BY person_id ORDER BY judgment_date, case_number, listing_id
                       ) AS place
                FROM links
            )
            SELECT person_id, json_array(
                $feature, $points, NULL,
                text || CASE WHEN listings > 1
                             THEN ', and ' || (listings - 1) || ' more' ELSE '' END
            )::VARCHAR AS reason
            FROM ranked WHERE place = 1 ORDER BY person_id
            """,
            params={"feature": COURT_LISTING, "points": profile.court_listing_penalty},
        ).to_arrow_table()
    finally:
        connection.close()
    return Deductions(profile.court_listing_penalty, reasons.cast(DEDUCTION_SCHEMA))


def apply(table: pa.Table, made: Deductions) -> pa.Table:
    """`table` (snapshot columns, ordered by person) with each listed person's score lowered
    (never below 350), their band made again and the court reason first among their reasons.
    Thin files have no score to lower."""
    if made.points == 0 or made.reasons.num_rows == 0 or table.num_rows == 0:
        return table
    index = pc.index_in(table.column("person_id"), value_set=made.reasons.column("person_id"))
    score = table.column("score")
    listed = pc.and_(pc.is_valid(index), pc.is_valid(score))
    if not pc.any(listed).as_py():
        return table
    lowered = pc.max_element_wise(pc.subtract(score, made.points), SCORE_MIN)
    new_score = pc.if_else(listed, lowered, score)
    band = pc.take(_BAND_OF_SCORE, pc.subtract(new_score, SCORE_MIN))
    court = pc.take(made.reasons.column("reason"), index)
    reasons = table.column("reasons")
    rest = pc.utf8_slice_codeunits(reasons, 1)  # the array without its "["
    joined = pc.if_else(
        pc.equal(reasons, "[]"),
        pc.binary_join_element_wise("[", court, "]", ""),
        pc.binary_join_element_wise("[", court, ",", rest, ""),
    )
    columns = {
        "score": new_score.cast(score.type),
        "band": pc.if_else(listed, band, table.column("band")),
        "reasons": pc.if_else(listed, joined, reasons),
    }
    for name, values in columns.items():
        table = table.set_column(table.schema.get_field_index(name), name, values)
    return table
