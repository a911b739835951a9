from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from kaimen.store.database import is_current, migrate
from kaimen.store.tables import metadata


def test_migrations_build_exactly_the_declared_tables(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
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
