"""People and their identities: one person per ID number and per phone, all or nothing, and
the views of who is active or gone that enrolment and the event rules read."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from sqlalchemy import Engine, update
from sqlalchemy.exc import IntegrityError

from kaimen.store import people
from kaimen.store.tables import people as people_table
from tests.store.store_rows import BIRTH, T0, enrol, mark_opted_out, new_person, stand_in


def test_people_go_in_with_both_identities(engine: Engine) -> None:
    with engine.begin() as connection:
        assert people.insert_people(connection, [new_person("P1"), new_person("P2")], T0) == 2
        assert people.insert_people(connection, [], T0) == 0
    with engine.connect() as connection:
        for kind in ("cn_resident_id", "phone"):
            hashes = [stand_in(kind, "P1"), stand_in(kind, "P2"), stand_in(kind, "P9")]
            assert people.owners_of(connection, kind, hashes) == {
                stand_in(kind, "P1"): "P1",
                stand_in(kind, "P2"): "P2",
            }
        # A phone's hash is not looked up as an ID number's.
        assert people.owners_of(connection, "cn_resident_id", [stand_in("phone", "P1")]) == {}
        assert people.existing_person_ids(connection, ["P1", "P3", "P2"]) == {"P1", "P2"}
        assert people.status_of(connection, "P1") == "active"
    assert people.count_active(engine) == 2


def test_lookups_in_chunks_find_everyone(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = [f"P{i}" for i in range(7)]
    enrol(engine, *ids)
    monkeypatch.setattr(people, "LOOKUP_CHUNK", 3)
    with engine.connect() as connection:
        assert people.existing_person_ids(connection, [*ids, "nobody"]) == set(ids)
        hashes = [stand_in("phone", p) for p in ids]
        assert set(people.owners_of(connection, "phone", hashes).values()) == set(ids)
        assert people.opted_out_among(connection, ids) == set()


@pytest.mark.parametrize(
    "clash",
    [
        {"person_id": "P1"},
        {"national_id_hash": stand_in("cn_resident_id", "P1")},
        {"phone_hash": stand_in("phone", "P1")},
    ],
)
def test_a_second_person_with_a_taken_id_or_identity_is_refused_whole(
    engine: Engine, clash: dict[str, str]
) -> None:
    enrol(engine, "P1")
    second = new_person("P2").__dict__ | clash
    with pytest.raises(IntegrityError), engine.begin() as connection:
        people.insert_people(connection, [new_person("P3"), people.NewPerson(**second)], T0)
    with engine.connect() as connection:
        assert people.existing_person_ids(connection, ["P1", "P2", "P3"]) == {"P1"}
    assert people.count_active(engine) == 1


def test_who_is_active_and_who_is_gone(engine: Engine) -> None:
    enrol(engine, "P1", "P2", "P3")
    mark_opted_out(engine, "P2")
    assert people.count_active(engine) == 2
    with engine.connect() as connection:
        assert people.status_of(connection, "P2") == "opted_out"
        assert people.status_of(connection, "nobody") is None
        assert people.opted_out_among(connection, ["P1", "P2", "nobody"]) == {"P2"}
        assert people.opted_out_ids(connection) == ["P2"]
        subjects = people.event_subjects(connection)
        active = people.active_ids(connection)
    assert active.schema == pa.schema([("person_id", pa.string())])
    assert sorted(active.column("person_id").to_pylist()) == ["P1", "P3"]
    assert subjects.schema == pa.schema(
        [("person_id", pa.string()), ("birth_date", pa.date32()), ("status", pa.string())]
    )
    assert sorted(subjects.to_pylist(), key=lambda r: r["person_id"]) == [
        {"person_id": "P1", "birth_date": BIRTH, "status": "active"},
        {"person_id": "P2", "birth_date": None, "status": "opted_out"},
        {"person_id": "P3", "birth_date": BIRTH, "status": "active"},
    ]


def test_status_can_be_read_with_a_lock_inside_a_transaction(engine: Engine) -> None:
    enrol(engine, "P1")
    with engine.begin() as connection:
        assert people.status_of(connection, "P1", lock=True) == "active"
        assert people.status_of(connection, "nobody", lock=True) is None


def test_an_empty_store_has_no_one(engine: Engine) -> None:
    assert people.count_active(engine) == 0
    with engine.connect() as connection:
        assert people.event_subjects(connection).num_rows == 0
        assert people.active_ids(connection).num_rows == 0
        assert people.opted_out_ids(connection) == []


@pytest.mark.parametrize(
    "values",
    [
        {"status": "opted_out"},  # keeping the birth date
        {"birth_date": None},  # active without one
        {"status": "suspended"},
    ],
)
def test_a_birth_date_only_while_active(engine: Engine, values: dict[str, object]) -> None:
    enrol(engine, "P1")
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(update(people_table).values(**values))
    with engine.connect() as connection:
        assert people.status_of(connection, "P1") == "active"


def test_enrolment_time_is_kept_in_utc(engine: Engine) -> None:
    elsewhere = T0.astimezone(dt.timezone(dt.timedelta(hours=8)))
    with engine.begin() as connection:
        people.insert_people(connection, [new_person("P1")], elsewhere)
        enrolled = connection.execute(people_table.select()).one().enrolled_at
    assert enrolled == T0
    assert enrolled.utcoffset() == dt.timedelta(0)


def test_an_id_that_would_split_wrongly_is_refused_not_miscounted(engine: Engine) -> None:
    """SQLite hands the active ids over as one joined text; an id holding the separator
    (which enrolment's id rule keeps out) would be refused rather than read as two."""
    enrol(engine, "P1", "P\x1f2")  # past enrolment's rule, straight into the store
    with engine.begin() as connection:
        if connection.dialect.name != "sqlite":
            ids = people.active_ids(connection).column("person_id").to_pylist()
            assert set(ids) == {"P1", "P\x1f2"}
            return
        with pytest.raises(ValueError, match="character 31"):
            people.active_ids(connection)
