"""The scorecard compiled to engine expressions: a whole population's snapshot rows in one query.

`snapshot_columns(card, features)` turns a feature table (an Ibis table with `person_id`,
`thin_file` and a column per characteristic) into the columns a published snapshot holds:
score, band, the 0-100 sub-score of each dimension, the reasons and the points as JSON
text (compact, with no spaces: it is stored for every person every month). The engine
computes everything where the data lives; no value passes through Python.
They are exactly the numbers of `scorecard.points`, `dimension_scores` and `reasons` (with
no threshold): points per bin as CASE expressions, reasons as the points lost against each
characteristic's best bin, ranked largest first with ties in card order, at most
`MAX_REASONS`. The JSON text is the store's shape (`domain.snapshots`): `[place,
points_lost, value]` per reason (the characteristic's place in the card), the points as a
list in card order (the card's names are stored once with the run). Only portable Ibis is
used, so DuckDB and Spark run the same expressions.
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import ibis.expr.types as ir

from kaimen.domain.scores import BANDS, MAX_REASONS, SCORE_MAX, SCORE_MIN, Dimension
from kaimen.domain.snapshots import SNAPSHOT_COLUMNS
from kaimen.model.scorecard import Scorecard, characteristic_points


def _int(value: int) -> ir.IntegerScalar:
    return ibis.literal(value, type="int64")


def _sum(values: Sequence[ir.IntegerValue]) -> ir.IntegerValue:
    total = values[0]
    for value in values[1:]:
        total = total + value
    return total


def _rounded_half_even(numerator: ir.IntegerValue, denominator: int) -> ir.IntegerValue:
    """numerator / denominator rounded half to even (numpy's `rint`), for numerator >= 0,
    in integers so every engine gives the same answer."""
    quotient = numerator // denominator
    twice_rest = (numerator - quotient * denominator) * 2
    up = ibis.cases(
        (twice_rest > denominator, _int(1)),
        (twice_rest == denominator, quotient % 2),
        else_=_int(0),
    )
    return (quotient + up).cast("int64")


def _dimension_score(
    card: Scorecard, dimension: Dimension, points: Sequence[ir.IntegerValue]
) -> ir.IntegerValue:
    """Where the row's points on the dimension sit between its worst and best, 0-100
    (50 when the dimension has no characteristic or they cannot vary)."""
    columns = [i for i, c in enumerate(card.characteristics) if c.dimension == dimension]
    low = sum(card.characteristics[i].worst_points for i in columns)
    high = sum(card.characteristics[i].best_points for i in columns)
    if high == low:
        return _int(50)
    got = _sum([points[i] for i in columns])
    return _rounded_half_even((got - low) * 100, high - low)


def _band(score: ir.IntegerValue) -> ir.StringValue:
    return ibis.cases(
        *((score <= band.high, ibis.literal(band.name)) for band in BANDS[:-1]),
        else_=ibis.literal(BANDS[-1].name),
    )


def _number_text(value: ir.Value) -> ir.StringValue:
    """A feature value as JSON: a float64 number, or null when missing (null or NaN)."""
    number = value.cast("float64")
    missing = number.isnull() | number.isnan()
    return ibis.ifelse(missing, ibis.literal("null"), number.cast("string"))


def _joined(parts: Sequence[ir.StringValue], separator: str = "") -> ir.StringValue:
    """The parts as one text, `separator` between them, a null part left out: one call
    (CONCAT_WS) where `+` chains one concatenation per part (in DuckDB three times the cost
    for the points of a 20-characteristic card, the parts' own number formatting included)."""
    if not parts:
        return ibis.literal("")
    return ibis.literal(separator).join(list(parts))


def _item(place: int, loss: ir.IntegerValue, value: ir.Value) -> ir.StringValue:
    """One reason as JSON, in the stored shape (its characteristic by its place in the card,
    as the run stores their names)."""
    return _joined(
        [
            ibis.literal(f"[{place},"),
            loss.cast("string"),
            ibis.literal(","),
            _number_text(value),
            ibis.literal("]"),
        ]
    )


def _reasons_text(card: Scorecard, table: ir.Table) -> ir.StringValue:
    """The reasons as a JSON array, largest loss first, ties in card order, at most
    MAX_REASONS, losses above 0 only (from the `_loss_i` and `_rank_i` columns)."""
    k = len(card.characteristics)
    items: list[ir.StringValue] = []
    for place in range(min(MAX_REASONS, k)):
        # Each reason's text is made inside the branch that picks it, so only for the few
        # characteristics a row names (a number as text is costly: made for every
        # characteristic of every row, the reasons were a third of the scorecard's work).
        items.append(
            ibis.cases(
                *(
                    (
                        (table[f"_rank_{i}"] == place) & (table[f"_loss_{i}"] > 0),
                        _item(i, table[f"_loss_{i}"], table[c.name]),
                    )
                    for i, c in enumerate(card.characteristics)
                ),
                else_=ibis.null("string"),
            )
        )
    # Places fill from the first, so the null items (no loss left) are the last ones: the
    # join leaves them out.
    return _joined([ibis.literal("["), _joined(items, ","), ibis.literal("]")])


def _points_text(points: Sequence[ir.IntegerValue]) -> ir.StringValue:
    """The points as a JSON list, in card order (the stored shape)."""
    return _joined(
        [ibis.literal("["), _joined([p.cast("string") for p in points], ","), ibis.literal("]")]
    )


def _ranked(card: Scorecard, features: ir.Table) -> ir.Table:
    """`features` with, per characteristic i, its points (`_points_i`), the points it lost
    against its best bin (`_loss_i`) and its place among the losses (`_rank_i`). One
    projection per stage, so each refers to the last one's columns
    rather than repeating its CASE expressions (which made the SQL text grow as k^3)."""
    cs = card.characteristics
    k = len(cs)
    t = features.mutate(
        thin_file=features.thin_file.fill_null(True),
        **{f"_points_{i}": characteristic_points(c, features) for i, c in enumerate(cs)},
    )
    t = t.mutate(
        **{f"_loss_{i}": _int(c.best_points) - t[f"_points_{i}"] for i, c in enumerate(cs)}
    )
    losses = [t[f"_loss_{i}"] for i in range(k)]
    # A characteristic's place: the ones losing more, and the earlier ones losing as much,
    # come before it.
    return t.mutate(
        **{
            f"_rank_{i}": _sum(
                [
                    ibis.ifelse(
                        (losses[j] > losses[i]) if j > i else (losses[j] >= losses[i]),
                        _int(1),
                        _int(0),
                    )
                    for j in range(k)
                    if j != i
                ]
                or [_int(0)]
            )
            for i in range(k)
        },
    )


def snapshot_columns(card: Scorecard, features: ir.Table) -> ir.Table:
    """Snapshot rows for every row of `features` (a null `thin_file` counts as thin: no
    activity known). A thin file has no score, band, sub-scores, reasons or points."""
    t = _ranked(card, features)
    thin = t.thin_file
    points = [t[f"_points_{i}"] for i in range(len(card.characteristics))]
    t = t.mutate(score=_sum(points).clip(lower=SCORE_MIN, upper=SCORE_MAX).cast("int64"))
    unless_thin = {
        "score": t.score,
        "band": _band(t.score),
        **{d.value: _dimension_score(card, d, points) for d in Dimension},
    }
    columns: dict[str, ir.Value] = {
        "person_id": t.person_id,
        **{
            name: ibis.ifelse(thin, ibis.null(value.type()), value)
            for name, value in unless_thin.items()
        },
        "thin_file": thin,
        "reasons": ibis.ifelse(thin, ibis.literal("[]"), _reasons_text(card, t)),
        "points": ibis.ifelse(thin, ibis.literal("[]"), _points_text(points)),
    }
    return t.select(**{name: columns[name] for name in SNAPSHOT_COLUMNS})
