"""Probabilistic linkage of court entries to enrolled people (Splink on in-memory DuckDB).

`link_entries` scores every candidate pair the blocking rules find with the shipped model
(`kaimen.matching.linkage_model`) and keeps each entry's best candidate. `classify` turns
match probabilities into decisions with `LinkThresholds`.

The prior, the probability that an entry and a given person are the same, is
`enrolled_share / people`: an entry belongs to some enrolled person with probability
`enrolled_share`, and then to any one of them alike. It follows the size of the population, so
the same evidence means less in a larger one, where a namesake is more likely.

An entry belongs to at most one person, so candidates compete: an entry's match probability
is its best candidate's Bayes factor against the prior, divided among all its candidates and
the chance of none: p_best = 2^w_best / (1 + sum 2^w_i), with w the Splink match weights
(log2 posterior odds of each pair alone). Two equally good namesakes each get less than a
half, and so go to review, never to an automatic link.

`people` may be only the candidates drawn from a larger enrolled population (everyone born on
an entry's birth date or sharing an entry's name key, say): `population` then gives the
population's size, for the prior, and the frequency of each name is counted as in the whole
population. That is exact for every name an entry shares with a candidate as long as the
candidates hold everyone with that name (see `Population`).

Everything runs in a private in-memory DuckDB connection that is closed on return, so
nothing is left on disk; Splink's own log lines are held back to warnings and above.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from splink import DuckDBAPI, Linker

from kaimen.domain.errors import Rejected
from kaimen.matching.linkage_inputs import comparable_entries, comparable_people
from kaimen.matching.linkage_model import settings
from kaimen.matching.records import LinkDecision, LinkThresholds, Population

# The share of court entries assumed to belong to an enrolled person when the caller has no
# better estimate (one is: the share of entries with a full ID that matched it exactly).
DEFAULT_ENROLLED_SHARE = 0.5
# Pairs weaker than this (odds of 1 in 2^10) cannot change an entry's outcome; dropping them
# early keeps the scored table small.
WEIGHT_FLOOR = -10.0
ENTRIES_SOURCE = "court_entries"
PEOPLE_SOURCE = "enrolled_people"
RESULT_SCHEMA = pa.schema(
    [
        pa.field("entry_key", pa.string(), nullable=False),
        pa.field("person_id", pa.string()),
        pa.field("match_probability", pa.float64(), nullable=False),
        pa.field("match_weight", pa.float64()),
    ]
)


@contextlib.contextmanager
def quiet_splink() -> Iterator[None]:
    """Hold Splink's loggers to errors for the duration (it logs progress at INFO)."""
    logger = logging.getLogger("splink")
    previous = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(previous)


@contextlib.contextmanager
def linkage_connection(threads: int | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A private in-memory DuckDB connection, closed afterwards."""
    config: dict[str, str | bool | int | float | list[str]] = {}
    if threads:
        config["threads"] = int(threads)
    connection = duckdb.connect(":memory:", config=config)
    try:
        yield connection
    finally:
        connection.close()


def _best_candidates(connection: duckdb.DuckDBPyConnection, predictions: str) -> pa.Table:
    # Sums run in a fixed order so repeated runs give the same floating-point result.
    return connection.sql(
        f"""
        WITH pairs AS (
            SELECT
                CASE WHEN source_dataset_l = '{ENTRIES_SOURCE}' THEN unique_id_l
                     ELSE unique_id_r END AS entry_key,
                CASE WHEN source_dataset_l = '{ENTRIES_SOURCE}' THEN unique_id_r
                     ELSE unique_id_l END AS person_id,
                match_weight
            FROM {predictions}
        ), ranked AS (
            SELECT *,
                max(match_weight) OVER (PARTITION BY entry_key) AS best_weight,
                row_number() OVER (
                    PARTITION BY entry_key ORDER BY match_weight DESC, person_id
                ) AS rank
            FROM pairs
        ), competition AS (
            SELECT entry_key,
                sum(pow(2.0, match_weight - best_weight) ORDER BY person_id) AS relative
            FROM ranked GROUP BY entry_key
        )
        SELECT r.entry_key, r.person_id,
            1.0 / (pow(2.0, -r.best_weight) + c.relative) AS match_probability,
            r.match_weight
        FROM ranked AS r JOIN competition AS c USING (entry_key)
        WHERE r.rank = 1
        """
    ).to_arrow_table()


# The name columns whose matches are adjusted for how common the name is.
TF_COLUMNS = ("name_hanzi", "name_pinyin")


def _population_frequencies(
    connection: duckdb.DuckDBPyConnection,
    left: pa.Table,
    right: pa.Table,
    population: Population,
    column: str,
) -> pa.Table:
    """A name column's frequencies as Splink counts them over the whole population: the
    candidates hold everyone with the names that matter, so only the denominator, how many
    in the population have a value in this column, is the population's. For Hanzi that is
    estimated from the candidates' share of names written in Hanzi."""
    named_candidates = right.num_rows - right["name_pinyin"].null_count
    share = (
        (right.num_rows - right[column].null_count) / named_candidates if named_candidates else 1.0
    )
    total = population.named * share + (left.num_rows - left[column].null_count)
    connection.register("tf_left", left.select([column]))
    connection.register("tf_right", right.select([column]))
    try:
        return connection.sql(
            f"""
            SELECT {column}, CAST(count(*) AS DOUBLE) / {max(total, 1.0)!r} AS tf_{column}
            FROM (SELECT {column} FROM tf_left UNION ALL SELECT {column} FROM tf_right)
            WHERE {column} IS NOT NULL GROUP BY {column}
            """
        ).to_arrow_table()
    finally:
        connection.unregister("tf_left")
        connection.unregister("tf_right")


def link_entries(
    entries: pa.Table,
    people: pa.Table,
    *,
    enrolled_share: float = DEFAULT_ENROLLED_SHARE,
    threads: int | None = None,
    population: Population | None = None,
) -> pa.Table:
    """Each court entry's best enrolled candidate.

    Inputs are described in `kaimen.matching.linkage_inputs`. Returns one row per entry, in
    the entries' order: `entry_key`, `person_id` (null when no candidate was found),
    `match_probability` (0 when none), `match_weight` (the best pair's Splink weight, null
    when none). Raises `Rejected` for a missing or mistyped column or an unusable share.
    With `population`, `people` are candidates drawn from it (see the module docstring).
    """
    if not 0.0 < enrolled_share <= 1.0:
        raise Rejected(f"enrolled_share must be in (0, 1], got {enrolled_share}")
    with linkage_connection(threads) as connection, quiet_splink():
        left = comparable_entries(connection, entries)
        right = comparable_people(connection, people)
        if left.num_rows == 0 or right.num_rows == 0:
            best = RESULT_SCHEMA.empty_table()
        else:
            api = DuckDBAPI(connection)
            enrolled = right.num_rows if population is None else population.people
            linker = Linker(
                [
                    api.register(left, table_name=ENTRIES_SOURCE),
                    api.register(right, table_name=PEOPLE_SOURCE),
                ],
                settings(enrolled_share / max(enrolled, right.num_rows)),
                log_level=None,
            )
            if population is not None:
                for column in TF_COLUMNS:
                    counted = _population_frequencies(connection, left, right, population, column)
                    linker.table_management.register_term_frequency_lookup(
                        api.register(counted, table_name=f"population_tf_{column}"), column
                    )
            predictions = linker.inference.predict(
                threshold_match_weight=WEIGHT_FLOOR, warning_mode="never"
            )
            best = _best_candidates(connection, predictions.physical_name)
        keys = pa.table({"entry_key": left["unique_id"], "ordinal": range(left.num_rows)})
        connection.register("entry_keys", keys)
        connection.register("best", best)
        result = connection.sql(
            """
            SELECT k.entry_key, b.person_id,
                   coalesce(b.match_probability, 0.0) AS match_probability, b.match_weight
            FROM entry_keys AS k LEFT JOIN best AS b USING (entry_key)
            ORDER BY k.ordinal
            """
        ).to_arrow_table()
    return result.cast(RESULT_SCHEMA)


def entry_keys(entries: pa.Table) -> pa.Table:
    """Each court entry's `name_key` (the sorted Pinyin syllables the name blocks compare)
    and `birth_date` (given, else read from the ID number), as the model derives them: what
    candidates are narrowed by before linking (both null when unknown)."""
    with linkage_connection(threads=1) as connection:
        left = comparable_entries(connection, entries)
    return pa.table(
        {
            "name_key": left["name_unordered"],
            "birth_date": pc.cast(
                pc.strptime(left["birth_text"], format="%Y%m%d", unit="s"), pa.date32()
            ),
        }
    )


def classify(matches: pa.Table, thresholds: LinkThresholds | None = None) -> pa.Table:
    """`matches` (as from `link_entries`) with a `decision` column: auto_link, review or
    no_link (see `LinkThresholds`; defaults documented in `kaimen.matching.records`)."""
    chosen = thresholds or LinkThresholds()
    probability = matches["match_probability"]
    has_person = pc.is_valid(matches["person_id"])
    decision = pc.if_else(
        pc.and_(has_person, pc.greater_equal(probability, chosen.auto_link)),
        LinkDecision.AUTO_LINK.value,
        pc.if_else(
            pc.and_(has_person, pc.greater_equal(probability, chosen.review)),
            LinkDecision.REVIEW.value,
            LinkDecision.NO_LINK.value,
        ),
    )
    return matches.append_column("decision", decision)
