"""Snapshots' reasons name their characteristic by its place among the run's characteristics.

A reason `[feature, points_lost, value]` (`[..., detail]` with a detail) stored its
characteristic's name, 76 of a snapshot row's 240 bytes at a million people a month, written
again every month. The run already stores the names once (`score_runs.characteristics`,
0026), so a reason now stores the name's place in that list; a feature that is none of the
run's characteristics (a court listing's deduction) keeps its name. Every other item of a
reason is kept as it was written.

Revision ID: 0032
Revises: 0031
"""

from alembic import op

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None

# The run's characteristics as (place, name) rows, for the snapshot being rewritten.
_SQLITE_NAMES = """
    SELECT n.key AS place, n.value AS name
    FROM score_runs AS r, json_each(r.characteristics) AS n
    WHERE r.month = score_snapshots.month AND r.model_version = score_snapshots.model_version
"""
_POSTGRES_NAMES = """
    SELECT t.i - 1 AS place, t.name
    FROM score_runs AS r,
         json_array_elements_text(r.characteristics::json) WITH ORDINALITY AS t(name, i)
    WHERE r.month = score_snapshots.month AND r.model_version = score_snapshots.model_version
"""


def _sqlite(looked_up: str, found_by: str) -> str:
    """Each reason's first item replaced by what `looked_up` gives for it (SQLite: the item
    edited in place, so the other items keep their text), in order; kept when none."""
    return f"""
    UPDATE score_snapshots SET reasons = (
        SELECT json_group_array(json(CASE WHEN x.found IS NULL THEN x.item
                                          ELSE json_set(x.item, '$[0]', x.found) END))
        FROM (
            SELECT e.value AS item, (
                SELECT n.{looked_up} FROM ({_SQLITE_NAMES}) AS n
                WHERE n.{found_by} = json_extract(e.value, '$[0]')
            ) AS found
            FROM json_each(score_snapshots.reasons) AS e
            ORDER BY e.key
        ) AS x
    )
    WHERE reasons <> '[]'
    """


def _postgres(looked_up: str, found_by: str, cast: str) -> str:
    """As `_sqlite`, for PostgreSQL (the column is text there, 0027)."""
    return f"""
    UPDATE score_snapshots SET reasons = (
        SELECT json_agg(CASE
            WHEN n.{looked_up} IS NULL THEN x.e
            WHEN json_array_length(x.e) < 4
            THEN json_build_array(n.{looked_up}, x.e -> 1, x.e -> 2)
            ELSE json_build_array(n.{looked_up}, x.e -> 1, x.e -> 2, x.e -> 3)
        END ORDER BY x.i)::text
        FROM json_array_elements(score_snapshots.reasons::json) WITH ORDINALITY AS x(e, i)
        LEFT JOIN ({_POSTGRES_NAMES}) AS n ON n.{found_by}{cast} = x.e ->> 0
    )
    WHERE reasons <> '[]'
    """


def _rewrite(to_places: bool) -> None:
    looked_up, found_by = ("place", "name") if to_places else ("name", "place")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_postgres(looked_up, found_by, "" if to_places else "::text"))
    else:
        op.execute(_sqlite(looked_up, found_by))


def upgrade() -> None:
    _rewrite(to_places=True)


def downgrade() -> None:
    _rewrite(to_places=False)
