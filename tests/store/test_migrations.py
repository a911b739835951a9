import dataclasses
import datetime as dt
import json
from typing import Any

import pyarrow as pa
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, select, update
from sqlalchemy.exc import IntegrityError

from kaimen.domain.decisions import DecisionReason
from kaimen.domain.reasons import Reason
from kaimen.domain.scores import Dimension
from kaimen.domain.snapshots import Snapshot
from kaimen.store import (
    access_log,
    connections,
    consents,
    decisions,
    offers,
    score_partitions,
    score_publishing,
    scores,
)
from kaimen.store.database import connect, downgrade, is_current, migrate
from kaimen.store.tables import court_list_files, court_listings, metadata, score_snapshots
from kaimen.store.tables import decisions as decisions_table
from kaimen.store.tables import offers as offers_table
from kaimen.store.types import UTCDateTime


def test_migrations_build_exactly_the_declared_tables(engine: Engine) -> None:
    with engine.connect() as connection:
        options = {"compare_type": True, "include_name": score_partitions.not_a_month_table}
        context = MigrationContext.configure(connection, opts=options)
        differences = compare_metadata(context, metadata)
    assert differences == []


def test_migrating_twice_changes_nothing(engine: Engine) -> None:
    before = sorted(inspect(engine).get_table_names())
    migrate(engine)
    assert sorted(inspect(engine).get_table_names()) == before
    assert is_current(engine)
    assert {"people", "identities", "event_inbox", "ingest_batches", "audit_log"} <= set(before)


def test_invariants_are_database_constraints(engine: Engine) -> None:
    inspector = inspect(engine)
    identity_uniques = {
        tuple(u["column_names"]) for u in inspector.get_unique_constraints("identities")
    }
    assert ("kind", "lookup_hash") in identity_uniques
    assert ("person_id", "kind") in identity_uniques
    inbox_uniques = {
        tuple(u["column_names"]) for u in inspector.get_unique_constraints("event_inbox")
    }
    assert ("source", "event_id") in inbox_uniques


# --- 0007: JSON and Boolean columns, every existing value kept --------------------------

NOW = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)
REASONS = [
    {"feature": "late_payments_12m", "points_lost": 31, "value": 2.0},
    {"feature": "months_of_history", "points_lost": 7, "value": None},
    # Seventeen significant digits: SQLite's REAL wrote back fifteen (0.0476190476190476).
    {"feature": "on_time_rate_12m", "points_lost": 3, "value": 0.047619047619047616},
]
POINTS = {"late_payments_12m": 12, "months_of_history": -4, "on_time_rate_12m": 40}
DECISION_REASONS = [{"feature": "late_payments_12m", "points": 31, "text": "2 late payments"}]
DISCLOSED = {
    "approved": False,
    "decision_id": "d-1",
    "reasons": ["2 late payments"],
    "unmet": ["score below the offer's minimum of 600"],
    "issued_at": str(NOW),
}


def _old_table(name: str, *columns: sa.ColumnClause[Any]) -> sa.TableClause:
    """A table as it was at 0006: JSON as text, flags as 0 or 1."""
    return sa.table(name, *columns)


def _rows_at_0006(engine: Engine) -> None:
    """What the code of 0006 wrote, written as it wrote it."""
    c = sa.column
    with engine.begin() as store:
        store.execute(
            _old_table(
                "people", c("person_id"), c("birth_date"), c("enrolled_at", UTCDateTime())
            ).insert(),
            [
                {"person_id": "P1", "birth_date": dt.date(1990, 3, 7), "enrolled_at": NOW},
                {"person_id": "P2", "birth_date": dt.date(1991, 4, 8), "enrolled_at": NOW},
            ],
        )
        _old_model_and_run(store)
        snapshot = {
            "month": "2026-10", "model_version": "card-1", "credit_history": 61, "behaviour": 48,
            "capacity": 70, "identity": 100, "connections": 50,
        }  # fmt: skip
        store.execute(
            _old_table(
                "score_snapshots", *(c(k) for k in snapshot), c("person_id"), c("score"),
                c("band"), c("thin_file"), c("reasons"), c("points"),
            ).insert(),
            [
                {**snapshot, "person_id": "P1", "score": 587, "band": "fair", "thin_file": 0,
                 "reasons": json.dumps(REASONS), "points": json.dumps(POINTS)},
                {**dict.fromkeys(snapshot), "month": "2026-10", "model_version": "card-1",
                 "person_id": "P2", "score": None, "band": None, "thin_file": 1,
                 "reasons": "[]", "points": "{}"},
            ],
        )  # fmt: skip
        store.execute(
            _old_table("partners", c("partner_id"), c("name"), c("created_at", UTCDateTime()))
            .insert()
            .values(partner_id="bank-a", name="Bank A", created_at=NOW)
        )
        store.execute(
            _old_table(
                "consents", c("person_id"), c("partner_id"), c("purpose"), c("share_score"),
                c("granted_at", UTCDateTime()),
            ).insert(),
            [
                {"person_id": "P1", "partner_id": "bank-a", "purpose": "decision",
                 "share_score": 1, "granted_at": NOW},
                {"person_id": "P1", "partner_id": "bank-a", "purpose": "report",
                 "share_score": 0, "granted_at": NOW},
            ],
        )  # fmt: skip
        store.execute(
            _old_table(
                "offers", c("offer_id"), c("partner_id"), c("name"), c("purpose"),
                c("min_score"), c("min_band"), c("min_dimensions"), c("created_at", UTCDateTime()),
            ).insert().values(
                offer_id=1, partner_id="bank-a", name="Card", purpose="a credit card",
                min_score=600, min_band=None,
                min_dimensions=json.dumps({"identity": 40, "capacity": 55}, sort_keys=True),
                created_at=NOW,
            )
        )  # fmt: skip
        store.execute(
            _old_table(
                "decisions", c("decision_id"), c("partner_id"), c("offer_id"), c("person_id"),
                c("decided_at", UTCDateTime()), c("month"), c("model_version"), c("approved"),
                c("score"), c("points_short"), c("reasons"), c("score_shared"),
            ).insert().values(
                decision_id="d-1", partner_id="bank-a", offer_id=1, person_id="P1",
                decided_at=NOW, month="2026-10", model_version="card-1", approved=0, score=587,
                points_short=13, reasons=json.dumps(DECISION_REASONS, sort_keys=True),
                score_shared=1,
            )
        )  # fmt: skip
        store.execute(
            _old_table(
                "access_log", c("person_id"), c("accessed_at", UTCDateTime()), c("actor"),
                c("purpose"), c("what"), c("disclosed"),
            ).insert().values(
                person_id="P1", accessed_at=NOW, actor="partner:bank-a",
                purpose="decision: a credit card", what="decision",
                disclosed=json.dumps(DISCLOSED, sort_keys=True, default=str),
            )
        )  # fmt: skip


def _expected_snapshot() -> Snapshot:
    return Snapshot(
        "P1", "2026-10", "card-1", NOW, 587, "fair", False,
        {Dimension.CREDIT_HISTORY: 61, Dimension.BEHAVIOUR: 48, Dimension.CAPACITY: 70,
         Dimension.IDENTITY: 100, Dimension.CONNECTIONS: 50},
        tuple(Reason(**r) for r in REASONS),
        POINTS,
    )  # fmt: skip


def _assert_rows_read_back(engine: Engine) -> None:
    with engine.connect() as store:
        assert scores.latest(store, "P1") == _expected_snapshot()
        thin = scores.latest(store, "P2")
        assert thin is not None and thin.thin_file is True
        assert (thin.score, thin.reasons, thin.points) == (None, (), {})
        assert set(thin.dimensions.values()) == {None}
        columns = scores.month_columns(store, "2026-10", "card-1")
        assert dict(zip(columns["person_id"], columns["thin_file"], strict=True)) == {
            "P1": 0,
            "P2": 1,
        }
        [decision] = decisions.of_person(store, "P1")
        assert (decision.approved, decision.score_shared, decision.points_short) == (
            False,
            True,
            13,
        )
        assert decision.reasons == (DecisionReason("late_payments_12m", "2 late payments", 31),)
        [access] = access_log.of_person(store, "P1")
        assert access.disclosed == DISCLOSED
        offer = offers.get(store, 1)
        assert offer is not None
        assert offer.min_dimensions == {Dimension.IDENTITY: 40, Dimension.CAPACITY: 55}
        shared = [c.share_score for c in consents.of_person(store, "P1")]
        assert shared == [True, False]


def test_0007_keeps_every_value_it_converts(empty_database_url: str) -> None:
    engine = connect(empty_database_url)
    migrate(engine, "0006")
    _rows_at_0006(engine)
    migrate(engine)
    _assert_rows_read_back(engine)
    # The offer was re-created on SQLite: the decision still refers to it, and a decision
    # about an offer that does not exist is still refused.
    with engine.begin() as store:
        assert store.execute(select(decisions_table.c.offer_id)).scalar_one() == 1
    with pytest.raises(IntegrityError), engine.begin() as store:
        store.execute(update(decisions_table).values(offer_id=2))
    # ... and it keeps its own constraints.
    with pytest.raises(IntegrityError), engine.begin() as store:
        store.execute(update(offers_table).values(min_score=100))
    # A 0 or 1 CHECK would refuse true and false on PostgreSQL; none is left.
    checks = [
        check["sqltext"]
        for table in ("decisions", "consents", "score_snapshots")
        for check in inspect(engine).get_check_constraints(table)
    ]
    assert checks and not [c for c in checks if "(0, 1)" in c]
    engine.dispose()


def test_0007_goes_back_to_text_and_integers_with_the_same_values(empty_database_url: str) -> None:
    engine = connect(empty_database_url)
    migrate(engine, "0006")
    _rows_at_0006(engine)
    migrate(engine)
    downgrade(engine, "0006")
    with engine.connect() as store:
        row = store.execute(
            sa.text("SELECT thin_file, reasons, points FROM score_snapshots WHERE person_id = 'P1'")
        ).one()
        decided = store.execute(sa.text("SELECT approved, score_shared FROM decisions")).one()
        disclosed = store.execute(sa.text("SELECT disclosed FROM access_log")).scalar_one()
    assert (row.thin_file, json.loads(row.reasons), json.loads(row.points)) == (0, REASONS, POINTS)
    assert tuple(decided) == (0, 1)
    assert json.loads(disclosed) == DISCLOSED
    # The 0 or 1 CHECKs are back.
    with pytest.raises(IntegrityError), engine.begin() as store:
        store.execute(sa.text("UPDATE decisions SET approved = 2"))
    migrate(engine)
    _assert_rows_read_back(engine)
    engine.dispose()


def test_0013_drops_the_snapshot_keys_and_the_downgrade_restores_them(
    empty_database_url: str,
) -> None:
    engine = connect(empty_database_url)
    migrate(engine)
    assert inspect(engine).get_foreign_keys("score_snapshots") == []
    downgrade(engine, "0012")
    keys = inspect(engine).get_foreign_keys("score_snapshots")
    assert sorted((k["referred_table"], tuple(k["constrained_columns"])) for k in keys) == [
        ("models", ("model_version",)),
        ("people", ("person_id",)),
    ]
    migrate(engine)
    assert inspect(engine).get_foreign_keys("score_snapshots") == []
    engine.dispose()


def test_0020_converts_every_indexed_key_to_the_compact_index(
    empty_database_url: str,
) -> None:
    from kaimen.store import event_keys

    engine = connect(empty_database_url)
    migrate(engine, "0019")
    held = [("bank-a", f"e-{i}", i * 11) for i in range(6)]
    # Over one conversion chunk: the rows are read in key order, a chunk at a time.
    held += [("shop", f"x-{i:06d}", -i) for i in range(50_010)]
    with engine.begin() as store:
        store.execute(
            sa.text("INSERT INTO event_keys (source, event_id, content_hash) VALUES (:s, :e, :h)"),
            [{"s": s, "e": e, "h": h} for s, e, h in held],
        )
    migrate(engine)
    keys = [(s, e) for s, e, _ in held]
    with engine.connect() as store:
        found = event_keys.lookup(store, keys)
        assert event_keys.count(store) == len(held)
    assert sorted(zip(*(found.column(i).to_pylist() for i in range(3)), strict=True)) == sorted(
        held
    )
    downgrade(engine, "0019")
    with engine.connect() as store:
        left = store.execute(sa.text("SELECT count(*) FROM event_keys")).scalar_one()
    assert left == 0  # only the inbox's keys come back (none here): index-keys does the rest
    engine.dispose()


def test_0021_names_the_home_s_artifacts_relative_to_it(empty_database_url: str) -> None:
    engine = connect(empty_database_url)
    migrate(engine, "0020")
    paths = {
        "in-home": "/srv/kaimen-home/models/in-home.json",
        "elsewhere": "/opt/artifacts/elsewhere.json",
        "relative": "models/relative.json",
    }
    with engine.begin() as store:
        store.execute(
            sa.text(
                "INSERT INTO models (version, kind, path, sha256, trained_at, as_of, metrics, "
                "champion) VALUES (:v, 'scorecard', :p, 'x', :t, '2026-10', '{}', 0)"
            ),
            [{"v": v, "p": p, "t": dt.datetime(2026, 11, 1)} for v, p in paths.items()],
        )
    migrate(engine)
    with engine.connect() as store:
        found = {
            r.version: r.path for r in store.execute(sa.text("SELECT version, path FROM models"))
        }
    assert found == {
        "in-home": "models/in-home.json",
        "elsewhere": "/opt/artifacts/elsewhere.json",
        "relative": "models/relative.json",
    }
    engine.dispose()


# --- 0026: reasons and points without their keys, the names once per run ------------------

COURT = {
    "feature": "court_listing",
    "points_lost": 60,
    "value": None,
    "detail": "court judgment C-1 at Nairobi, 900.00 KES unpaid since 2026-01-05",
}


def _old_model(store: sa.Connection) -> None:
    """Model card-1, in the columns every old schema had."""
    c = sa.column
    store.execute(
        _old_table(
            "models", c("version"), c("kind"), c("path"), c("sha256"),
            c("trained_at", UTCDateTime()), c("as_of"), c("metrics"), c("champion"),
        ).insert().values(
            version="card-1", kind="scorecard", path="p", sha256="0" * 64,
            trained_at=NOW, as_of="2026-10", metrics="{}", champion=1,
        )
    )  # fmt: skip


def _old_model_and_run(store: sa.Connection) -> None:
    """Model card-1 and its run of 2026-10 (two people), in the columns every old schema had."""
    c = sa.column
    _old_model(store)
    store.execute(
        _old_table(
            "score_runs", c("month"), c("model_version"), c("people"),
            c("published_at", UTCDateTime()),
        ).insert().values(month="2026-10", model_version="card-1", people=2, published_at=NOW)
    )  # fmt: skip


def _rows_at_0025(engine: Engine) -> None:
    """A run as 0025's code wrote it: reasons and points as JSON objects."""
    c = sa.column
    with engine.begin() as store:
        _old_model_and_run(store)
        dimensions = dict.fromkeys(d.value for d in Dimension)
        rows = [
            {**dimensions, "person_id": "P1", "score": 527, "band": "poor", "thin_file": False,
             "reasons": [COURT, *REASONS], "points": POINTS},
            {**dimensions, "person_id": "P2", "score": None, "band": None, "thin_file": True,
             "reasons": [], "points": {}},
        ]  # fmt: skip
        store.execute(
            sa.table(
                "score_snapshots", c("month"), c("model_version"), c("person_id"), c("score"),
                c("band"), c("thin_file"), *(c(d) for d in dimensions),
                c("reasons", sa.JSON()), c("points", sa.JSON()),
            ).insert(),
            [{**r, "month": "2026-10", "model_version": "card-1"} for r in rows],
        )  # fmt: skip


def _upgraded_from_0025(url: str) -> Engine:
    """A store with 0025's rows, migrated to the newest revision."""
    engine = connect(url)
    migrate(engine, "0025")
    _rows_at_0025(engine)
    migrate(engine)
    return engine


def test_0026_stores_reasons_and_points_without_keys_and_goes_back(
    empty_database_url: str,
) -> None:
    engine = _upgraded_from_0025(empty_database_url)
    raw = "SELECT person_id, reasons, points FROM score_snapshots ORDER BY person_id"
    with engine.connect() as store:
        names = store.execute(sa.text("SELECT characteristics FROM score_runs")).scalar_one()
        stored = [(p, _decoded(r), _decoded(q)) for p, r, q in store.execute(sa.text(raw))]
        listed = scores.latest(store, "P1")
        thin = scores.latest(store, "P2")
    assert json.loads(names) == list(POINTS)
    # At the newest revision a reason names a characteristic of the run by its place (0032).
    assert stored == [
        (
            "P1",
            [
                [*COURT.values()],
                *([list(POINTS).index(r["feature"]), *[*r.values()][1:]] for r in REASONS),
            ],
            list(POINTS.values()),
        ),
        ("P2", [], []),
    ]
    assert listed is not None and listed.points == POINTS
    assert listed.reasons == (Reason(**COURT), *(Reason(**r) for r in REASONS))
    assert thin is not None and (thin.reasons, thin.points) == ((), {})
    downgrade(engine, "0025")
    with engine.connect() as store:
        back = [(p, _decoded(r), _decoded(q)) for p, r, q in store.execute(sa.text(raw))]
    assert back == [("P1", [COURT, *REASONS], POINTS), ("P2", [], {})]
    engine.dispose()


def _decoded(value: Any) -> Any:
    """A JSON column read as text: SQLite's text, PostgreSQL's already decoded."""
    return json.loads(value) if isinstance(value, str) else value


# --- 0032: a reason names its characteristic by its place among the run's -----------------

SHARE = 0.14285714285714285


def test_0032_names_reasons_by_place_keeping_every_value_and_goes_back(
    empty_database_url: str,
) -> None:
    engine = connect(empty_database_url)
    migrate(engine, "0031")
    court = [*COURT.values()]
    named = [court, ["months_of_history", 7, SHARE], ["late_payments_12m", 31, 2.0]]
    table = pa.table(
        {
            "person_id": ["P1", "P2"],
            "score": [527, None],
            "band": ["poor", None],
            "thin_file": [False, True],
            **{d.value: pa.array([50, None], pa.int64()) for d in Dimension},
            "reasons": [json.dumps(named), "[]"],
            "points": [json.dumps(list(POINTS.values())), "[]"],
        }
    )
    with engine.begin() as store:
        _old_model(store)
        score_publishing.publish_table(store, "2026-10", "card-1", table, NOW, list(POINTS))
    migrate(engine)
    raw = "SELECT person_id, reasons FROM score_snapshots ORDER BY person_id"
    with engine.connect() as store:
        stored = [(p, str(r)) for p, r in store.execute(sa.text(raw))]
        listed = scores.latest(store, "P1")
        thin = scores.latest(store, "P2")
    assert [(p, _decoded(r)) for p, r in stored] == [
        ("P1", [court, [1, 7, SHARE], [0, 31, 2.0]]),
        ("P2", []),
    ]
    # The value's own text is kept, not a float's shorter rendering.
    assert repr(SHARE) in stored[0][1]
    assert listed is not None and listed.reasons == (
        Reason(**COURT),
        Reason("months_of_history", 7, SHARE),
        Reason("late_payments_12m", 31, 2.0),
    )
    assert thin is not None and thin.reasons == ()
    downgrade(engine, "0031")
    with engine.connect() as store:
        back = [(p, str(r)) for p, r in store.execute(sa.text(raw))]
    assert [(p, _decoded(r)) for p, r in back] == [("P1", named), ("P2", [])]
    assert repr(SHARE) in back[0][1]
    engine.dispose()


# --- 0034: friends' points before the band rule kept with each snapshot -------------------


def test_0034_keeps_the_rows_published_before_it_and_goes_back(empty_database_url: str) -> None:
    engine = connect(empty_database_url)
    migrate(engine, "0033")
    row = "('P1', '2026-10', 'card-1', 12, 3)"
    with engine.begin() as store:
        store.exec_driver_sql(
            "INSERT INTO connection_points "
            f"(person_id, month, model_version, points, friends_counted) VALUES {row}"
        )
    migrate(engine)
    with engine.begin() as store:
        old = connections.points_of(store, "P1", "2026-10", "card-1")
        connections.replace_points(
            store, "P2", "2026-10", "card-1", connections.SnapshotPoints(5, 2, 9)
        )
        new = connections.points_of(store, "P2", "2026-10", "card-1")
    # Published before 0034: nothing known of the points before the band rule.
    assert old == connections.SnapshotPoints(12, 3, None)
    assert new == connections.SnapshotPoints(5, 2, 9)
    downgrade(engine, "0033")
    raw = "SELECT * FROM connection_points ORDER BY person_id"
    with engine.connect() as store:
        assert [tuple(r) for r in store.exec_driver_sql(raw)] == [
            ("P1", "2026-10", "card-1", 12, 3),
            ("P2", "2026-10", "card-1", 5, 2),
        ]
    migrate(engine)
    engine.dispose()


# --- 0033: SQLite's snapshots kept in their key, a table without rowid ---------------------


def _sqlite_snapshot_storage(store: sa.Connection) -> tuple[bool, list[str]]:
    """Whether SQLite keeps score_snapshots without rowid, and the indexes it has."""
    definition = store.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'score_snapshots'"
    ).scalar_one()
    indexes = store.exec_driver_sql(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'score_snapshots'"
    ).scalars()
    return str(definition).endswith("WITHOUT ROWID"), sorted(indexes)


def test_0033_keeps_sqlite_s_snapshots_in_their_key_and_goes_back(
    empty_database_url: str,
) -> None:
    engine = _upgraded_from_0025(empty_database_url)
    raw = "SELECT * FROM score_snapshots ORDER BY month, model_version, person_id"
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as store:
        rows = [tuple(r) for r in store.execute(sa.text(raw))]
        p1 = scores.latest(store, "P1")
        storage = _sqlite_snapshot_storage(store) if sqlite else None
    assert len(rows) == 2 and p1 is not None
    if sqlite:
        # One B-tree: the key is the table's primary key, and no second index is kept for it.
        assert storage == (True, [])
    # Still one row per run and person.
    with pytest.raises(IntegrityError), engine.begin() as store:
        first = store.execute(sa.text(raw)).mappings().first()
        assert first is not None
        store.execute(score_snapshots.insert().values(**first))
    downgrade(engine, "0032")
    with engine.connect() as store:
        assert [tuple(r) for r in store.execute(sa.text(raw))] == rows
        if sqlite:
            assert _sqlite_snapshot_storage(store) == (
                False,
                ["sqlite_autoindex_score_snapshots_1"],
            )
    migrate(engine)
    with engine.connect() as store:
        assert [tuple(r) for r in store.execute(sa.text(raw))] == rows
        assert scores.latest(store, "P1") == p1
    engine.dispose()


# --- 0029: score snapshots partitioned by month on PostgreSQL ----------------------------


def test_0029_keeps_the_published_months_as_one_partition_and_goes_back(
    empty_database_url: str,
) -> None:
    engine = _upgraded_from_0025(empty_database_url)
    with engine.begin() as store:
        # P1's row again for a month published after the migration, as the batch does.
        october = scores.latest(store, "P1")
        assert october is not None
        score_publishing.publish(
            store, "2026-11", "card-1", [dataclasses.replace(october, month="2026-11")], NOW
        )
    raw = "SELECT month, person_id FROM score_snapshots ORDER BY month, person_id"
    with engine.connect() as store:
        rows = [tuple(r) for r in store.execute(sa.text(raw))]
        if engine.dialect.name == "postgresql":
            held: dict[str, str] = dict(
                store.execute(
                    sa.text(
                        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) "
                        "FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid "
                        "WHERE i.inhparent = CAST('score_snapshots' AS regclass)"
                    )
                ).all()
            )
            assert held == {
                "score_snapshots_earlier": "FOR VALUES IN ('2026-10')",
                "score_snapshots_2026_11": "FOR VALUES IN ('2026-11')",
            }
    assert rows == [("2026-10", "P1"), ("2026-10", "P2"), ("2026-11", "P1")]
    downgrade(engine, "0028")
    with engine.connect() as store:
        assert [tuple(r) for r in store.execute(sa.text(raw))] == rows
        kind = store.execute(
            sa.text("SELECT relkind FROM pg_class WHERE relname = 'score_snapshots'")
            if engine.dialect.name == "postgresql"
            else sa.text("SELECT 'r'")
        ).scalar_one()
    assert kind == "r"
    migrate(engine)
    engine.dispose()


# --- 0030: score snapshots keyed by their run on SQLite ----------------------------------


def _snapshot_key(store: sa.Connection) -> str:
    """The columns of the snapshots' key, in order, as the database holds them."""
    if store.dialect.name == "sqlite":
        definition = store.execute(
            sa.text("SELECT sql FROM sqlite_master WHERE name = 'score_snapshots'")
        ).scalar_one()
        return str(definition).split("uq_score_snapshots_key UNIQUE (")[1].split(")")[0]
    definition = store.execute(
        sa.text(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conname = 'uq_score_snapshots_key'"
        )
    ).scalar_one()
    return str(definition).removeprefix("UNIQUE (").removesuffix(")")


def test_0030_keys_sqlite_s_snapshots_by_run_keeping_every_row_and_goes_back(
    empty_database_url: str,
) -> None:
    engine = _upgraded_from_0025(empty_database_url)
    # The reasons are compared as read (`scores.latest`): their stored shape moves with 0032.
    raw = "SELECT month, person_id, score, points FROM score_snapshots ORDER BY person_id"
    with engine.connect() as store:
        rows = [tuple(r) for r in store.execute(sa.text(raw))]
        key = _snapshot_key(store)
        p1 = scores.latest(store, "P1")
    assert len(rows) == 2 and p1 is not None
    sqlite = engine.dialect.name == "sqlite"
    assert key == (
        "month, model_version, person_id" if sqlite else "person_id, month, model_version"
    )
    downgrade(engine, "0029")
    with engine.connect() as store:
        assert [tuple(r) for r in store.execute(sa.text(raw))] == rows
        assert _snapshot_key(store) == "person_id, month, model_version"
    migrate(engine)
    with engine.connect() as store:
        assert [tuple(r) for r in store.execute(sa.text(raw))] == rows
        assert scores.latest(store, "P1") == p1
    engine.dispose()


# --- 0031: score-change alerts keyed by their run ----------------------------------------

_ALERT_ROWS = (
    ("P1", "score_change", "2026-09/card-1"),
    ("P1", "score_change", "2026-10/card-1"),
    ("P2", "score_change", "2026-10/card-1"),
    ("P1", "negative_item", "bank/e-1"),
    ("P1", "inquiry", "2026-10/card-1"),
)


def _alert_keys(store: sa.Connection) -> dict[str, str]:
    """The alerts' unique keys by name: their columns, and their predicate if partial."""
    found = inspect(store).get_indexes("alerts")
    keys = {i["name"]: ", ".join(i["column_names"]) for i in found if i["unique"]}
    if store.dialect.name == "postgresql":
        constraints = inspect(store).get_unique_constraints("alerts")
        keys |= {c["name"]: ", ".join(c["column_names"]) for c in constraints}
    elif "uq_alerts_one_per_cause UNIQUE (person_id, kind, ref)" in str(
        store.execute(sa.text("SELECT sql FROM sqlite_master WHERE name = 'alerts'")).scalar_one()
    ):
        keys["uq_alerts_one_per_cause"] = "person_id, kind, ref"
    return keys


def test_0031_keys_score_changes_by_run_keeping_every_alert_and_goes_back(
    empty_database_url: str,
) -> None:
    engine = connect(empty_database_url)
    migrate(engine, "0030")
    raw = "SELECT alert_id, person_id, kind, ref, details FROM alerts ORDER BY alert_id"
    insert = sa.text(
        "INSERT INTO alerts (person_id, kind, ref, raised_at, details) "
        "VALUES (:person_id, :kind, :ref, :raised_at, :details)"
    )
    with engine.begin() as store:
        for person_id, kind, ref in _ALERT_ROWS:
            store.execute(
                insert,
                {
                    "person_id": person_id,
                    "kind": kind,
                    "ref": ref,
                    "raised_at": dt.datetime(2026, 11, 1),
                    "details": "{}",
                },
            )
        rows = [tuple(r) for r in store.execute(sa.text(raw))]
        assert _alert_keys(store) == {"uq_alerts_one_per_cause": "person_id, kind, ref"}
    migrate(engine)
    with engine.connect() as store:
        assert [tuple(r) for r in store.execute(sa.text(raw))] == rows
        assert _alert_keys(store) == {
            "uq_alerts_one_per_cause": "person_id, kind, ref",
            "uq_alerts_score_change_by_run": "ref, person_id",
        }
    # Still one alert per person, kind and cause, whichever key holds the kind.
    for person_id, kind, ref in (_ALERT_ROWS[1], _ALERT_ROWS[3]):
        with pytest.raises(IntegrityError), engine.begin() as store:
            store.execute(
                insert,
                {
                    "person_id": person_id,
                    "kind": kind,
                    "ref": ref,
                    "raised_at": dt.datetime(2026, 11, 2),
                    "details": "{}",
                },
            )
    downgrade(engine, "0030")
    with engine.connect() as store:
        assert [tuple(r) for r in store.execute(sa.text(raw))] == rows
        assert _alert_keys(store) == {"uq_alerts_one_per_cause": "person_id, kind, ref"}
    migrate(engine)
    with engine.connect() as store:
        assert [tuple(r) for r in store.execute(sa.text(raw))] == rows
    engine.dispose()


# --- 0035: a court listing's case number as it is compared ----------------------------------


def test_0035_gives_every_listing_its_case_key_and_goes_back(empty_database_url: str) -> None:
    engine = connect(empty_database_url)
    migrate(engine, "0034")
    at = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    with engine.begin() as store:
        store.execute(
            sa.insert(court_list_files).values(
                file_id=1,
                sha256="a" * 64,
                name="court.csv",
                channel="file",
                imported_at=at,
                actor="admin",
                rows=2,
                new_listings=2,
                status_changes=0,
            )
        )
        for listing_id, case in (("L1", "（2025）京0105执 1234号"), ("L2", "(2024)沪01民初9号")):
            store.execute(
                sa.insert(court_listings).values(
                    listing_id=listing_id,
                    court="北京市朝阳区人民法院",
                    case_number=case,
                    amount=5000,
                    currency="CNY",
                    judgment_date=dt.date(2026, 6, 1),
                    status="entered",
                    name_hash="n" * 64,
                    name_encrypted="x",
                    id_form="full",
                    id_hash="i" * 64,
                    id_encrypted="x",
                    file_id=1,
                    imported_at=at,
                    updated_at=at,
                )
            )
    migrate(engine)
    with engine.connect() as store:
        held = store.execute(select(court_listings.c.listing_id, court_listings.c.case_key))
        keys = {row.listing_id: row.case_key for row in held}
    assert keys == {"L1": "2025京0105执1234号", "L2": "2024沪01民初9号"}
    downgrade(engine, "0034")
    with engine.connect() as store:
        assert "case_key" not in {c["name"] for c in inspect(store).get_columns("court_listings")}
    migrate(engine)
    engine.dispose()
