"""Snapshots' reasons and points without their keys; the characteristics' names once per run.

A reason `{"feature": f, "points_lost": n, "value": v, "detail": d}` becomes `[f, n, v]`
(`[f, n, v, d]` with a detail); a snapshot's points `{"name": p, ...}` become a list in the
order of `score_runs.characteristics`, a JSON list of the names (taken, for each run already
published, from its first snapshot with points). A thin file's `{}` becomes `[]`.

Alerts lose their foreign key to `people`, as the snapshots did in 0013: a month's
publication raises one for each person whose score moved, and on PostgreSQL each key was a
trigger run per row.

Revision ID: 0026
Revises: 0025
"""

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

# Values are taken with `->`, which hands each on as the JSON text it was written as:
# `json_extract` made a number SQLite's REAL, written back with 15 significant digits, so a
# round trip through the downgrade changed reason values (0.047619047619047616 came back as
# 0.0476190476190476).
_SQLITE_UP = (
    """
    UPDATE score_runs SET characteristics = coalesce((
        SELECT json_group_array(key) FROM json_each((
            SELECT s.points FROM score_snapshots AS s
            WHERE s.month = score_runs.month AND s.model_version = score_runs.model_version
              AND s.points <> '{}'
            LIMIT 1
        ))
    ), '[]')
    """,
    """
    UPDATE score_snapshots SET
        points = CASE WHEN points = '{}' THEN '[]' ELSE (
            SELECT json_group_array((score_snapshots.points -> ('$."' || n.value || '"')))
            FROM score_runs AS r, json_each(r.characteristics) AS n
            WHERE r.month = score_snapshots.month
              AND r.model_version = score_snapshots.model_version
        ) END,
        reasons = (
            SELECT coalesce(json_group_array(CASE
                WHEN json_type(e.value, '$.detail') IS NULL
                  OR json_type(e.value, '$.detail') = 'null'
                THEN json_array((e.value -> '$.feature'),
                                (e.value -> '$.points_lost'),
                                (e.value -> '$.value'))
                ELSE json_array((e.value -> '$.feature'),
                                (e.value -> '$.points_lost'),
                                (e.value -> '$.value'),
                                (e.value -> '$.detail'))
            END), '[]')
            FROM json_each(score_snapshots.reasons) AS e
        )
    """,
)
_POSTGRES_UP = (
    """
    UPDATE score_runs SET characteristics = coalesce((
        SELECT json_agg(k)::text FROM json_object_keys((
            SELECT s.points FROM score_snapshots AS s
            WHERE s.month = score_runs.month AND s.model_version = score_runs.model_version
              AND s.points::text <> '{}'
            LIMIT 1
        )) AS k
    ), '[]')
    """,
    """
    UPDATE score_snapshots SET
        points = CASE WHEN points::text = '{}' THEN '[]'::json ELSE (
            SELECT coalesce(json_agg(score_snapshots.points -> n.name ORDER BY n.i), '[]')
            FROM score_runs AS r,
                 json_array_elements_text(r.characteristics::json) WITH ORDINALITY AS n(name, i)
            WHERE r.month = score_snapshots.month
              AND r.model_version = score_snapshots.model_version
        ) END,
        reasons = (
            SELECT coalesce(json_agg(CASE
                WHEN coalesce(json_typeof(e -> 'detail'), 'null') = 'null'
                THEN json_build_array(e -> 'feature', e -> 'points_lost', e -> 'value')
                ELSE json_build_array(e -> 'feature', e -> 'points_lost', e -> 'value',
                                      e -> 'detail')
            END ORDER BY i), '[]')
            FROM json_array_elements(score_snapshots.reasons) WITH ORDINALITY AS x(e, i)
        )
    """,
)
_SQLITE_DOWN = (
    """
    UPDATE score_snapshots SET
        points = coalesce((
            SELECT json_group_object(n.value, (score_snapshots.points -> ('$[' || n.key || ']')))
            FROM score_runs AS r, json_each(r.characteristics) AS n
            WHERE r.month = score_snapshots.month
              AND r.model_version = score_snapshots.model_version
              AND json_type(score_snapshots.points, '$[' || n.key || ']') NOT IN ('null')
        ), '{}'),
        reasons = (
            SELECT coalesce(json_group_array(CASE
                WHEN json_type(e.value, '$[3]') IS NULL THEN json_object(
                    'feature', (e.value -> '$[0]'),
                    'points_lost', (e.value -> '$[1]'),
                    'value', (e.value -> '$[2]'))
                ELSE json_object(
                    'feature', (e.value -> '$[0]'),
                    'points_lost', (e.value -> '$[1]'),
                    'value', (e.value -> '$[2]'),
                    'detail', (e.value -> '$[3]'))
            END), '[]')
            FROM json_each(score_snapshots.reasons) AS e
        )
    """,
)
_POSTGRES_DOWN = (
    """
    UPDATE score_snapshots SET
        points = coalesce((
            SELECT json_object_agg(n.name, score_snapshots.points -> (n.i::int - 1) ORDER BY n.i)
            FROM score_runs AS r,
                 json_array_elements_text(r.characteristics::json) WITH ORDINALITY AS n(name, i)
            WHERE r.month = score_snapshots.month
              AND r.model_version = score_snapshots.model_version
              AND json_typeof(score_snapshots.points -> (n.i::int - 1)) <> 'null'
        ), '{}'),
        reasons = (
            SELECT coalesce(json_agg(CASE
                WHEN json_array_length(e) < 4 THEN json_build_object(
                    'feature', e -> 0, 'points_lost', e -> 1, 'value', e -> 2)
                ELSE json_build_object(
                    'feature', e -> 0, 'points_lost', e -> 1, 'value', e -> 2, 'detail', e -> 3)
            END ORDER BY i), '[]')
            FROM json_array_elements(score_snapshots.reasons) WITH ORDINALITY AS x(e, i)
        )
    """,
)


def _run(statements: tuple[str, ...]) -> None:
    for statement in statements:
        op.execute(statement)


def upgrade() -> None:
    with op.batch_alter_table("score_runs") as batch:
        batch.add_column(
            sa.Column("characteristics", sa.Text(), nullable=False, server_default="[]")
        )
    postgres = op.get_bind().dialect.name == "postgresql"
    _run(_POSTGRES_UP if postgres else _SQLITE_UP)
    with op.batch_alter_table("alerts") as batch:
        batch.drop_constraint("fk_alerts_person_id", type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.create_foreign_key("fk_alerts_person_id", "people", ["person_id"], ["person_id"])
    postgres = op.get_bind().dialect.name == "postgresql"
    _run(_POSTGRES_DOWN if postgres else _SQLITE_DOWN)
    with op.batch_alter_table("score_runs") as batch:
        batch.drop_column("characteristics")
