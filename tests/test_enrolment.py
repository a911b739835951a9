import datetime as dt
import logging
from pathlib import Path

import pytest
from sqlalchemy import Engine, MetaData, func, select

from kaimen.domain.errors import BatchRejected, EnrolmentConflict, IdentityRejected
from kaimen.enrolment import enrol_file, enrol_many, enrol_one
from kaimen.store import audit
from kaimen.store.identity_vault import IdentityVault
from kaimen.store.tables import identities, people
from tests.conftest import NOW, make_national_id

ID_A = make_national_id(birth="19850512", sequence="001")
ID_B = make_national_id(birth="19920101", sequence="002")


def _count(engine: Engine, table: object) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def test_enrolment_stores_one_person_with_protected_identities(
    engine: Engine, vault: IdentityVault
) -> None:
    person_id = enrol_one(engine, vault, "13800138000", ID_A, "tester", now=NOW)
    with engine.connect() as connection:
        person = connection.execute(select(people)).one()
        rows = connection.execute(select(identities)).all()
    assert person.person_id == person_id
    assert person.birth_date == dt.date(1985, 5, 12)
    assert {r.kind for r in rows} == {"cn_resident_id", "phone"}
    by_kind = {r.kind: r for r in rows}
    assert vault.decrypt("cn_resident_id", by_kind["cn_resident_id"].encrypted_value) == ID_A
    assert vault.decrypt("phone", by_kind["phone"].encrypted_value) == "+8613800138000"


def test_raw_numbers_are_never_stored_or_logged(
    engine: Engine, vault: IdentityVault, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.DEBUG)
    try:
        enrol_one(engine, vault, "13800138000", ID_A, "tester", now=NOW)
        with pytest.raises(EnrolmentConflict):
            enrol_one(engine, vault, "13900139000", ID_A, "tester", now=NOW)
    finally:
        logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    assert ID_A not in caplog.text
    assert "13800138000" not in caplog.text
    metadata = MetaData()
    metadata.reflect(engine)
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            for row in connection.execute(select(table)):
                text = " ".join(str(value) for value in row)
                assert ID_A not in text, table.name
                assert "13800138000" not in text, table.name


def test_the_same_id_twice_is_a_conflict_never_a_second_person(
    engine: Engine, vault: IdentityVault
) -> None:
    enrol_one(engine, vault, "13800138000", ID_A, "tester", now=NOW)
    for phone in ("13800138000", "13900139000"):
        with pytest.raises(EnrolmentConflict) as caught:
            enrol_one(engine, vault, phone, ID_A.lower(), "tester", now=NOW)
        assert caught.value.reason == "identity_taken"
    assert _count(engine, people) == 1


def test_a_phone_belongs_to_one_person(engine: Engine, vault: IdentityVault) -> None:
    enrol_one(engine, vault, "13800138000", ID_A, "tester", now=NOW)
    with pytest.raises(EnrolmentConflict) as caught:
        enrol_one(engine, vault, "+86 138 0013 8000", ID_B, "tester", now=NOW)
    assert caught.value.reason == "phone_taken"


def test_invalid_identity_is_refused_with_its_reason(engine: Engine, vault: IdentityVault) -> None:
    with pytest.raises(IdentityRejected) as caught:
        enrol_one(
            engine,
            vault,
            "13800138000",
            ID_A[:-1] + "0" if ID_A[-1] != "0" else ID_A[:-1] + "1",
            "tester",
            now=NOW,
        )
    assert caught.value.reason == "check_digit"
    with pytest.raises(IdentityRejected) as caught:
        enrol_one(engine, vault, "12345", ID_A, "tester", now=NOW)
    assert caught.value.reason == "phone_format"
    assert _count(engine, people) == 0


def test_enrolment_is_audited_without_personal_data(engine: Engine, vault: IdentityVault) -> None:
    before = audit.count(engine)
    enrol_one(engine, vault, "13800138000", ID_A, "tester", now=NOW)
    assert audit.count(engine) == before + 1
    assert audit.verify(engine) == before + 1


def _people_file(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    path.write_text(
        "person_id,phone,national_id\n" + "".join(f"{p},{ph},{n}\n" for p, ph, n in rows)
    )
    return path


def test_a_bulk_file_with_one_bad_row_stores_nobody(
    engine: Engine, vault: IdentityVault, tmp_path: Path
) -> None:
    path = _people_file(
        tmp_path / "people.csv",
        [
            ("A1", "13800000001", ID_A),
            ("A2", "13800000002", "110105194912310021"),
            ("A3", "13800000003", ID_B),
            ("A4", "not-a-phone", make_national_id(sequence="004")),
        ],
    )
    with pytest.raises(BatchRejected) as caught:
        enrol_file(engine, vault, path, "tester", now=NOW)
    problems = {(e.line, e.field) for e in caught.value.errors}
    assert problems == {(3, "national_id"), (5, "phone")}
    assert "check_digit" in str(caught.value.errors[0])
    assert _count(engine, people) == 0


def test_a_bulk_file_replays_safely(engine: Engine, vault: IdentityVault, tmp_path: Path) -> None:
    path = _people_file(
        tmp_path / "people.csv", [("A1", "13800000001", ID_A), ("A2", "13800000002", ID_B)]
    )
    first = enrol_file(engine, vault, path, "tester", now=NOW)
    again = enrol_file(engine, vault, path, "tester", now=NOW)
    assert (first.enrolled, first.already_enrolled) == (2, 0)
    assert (again.enrolled, again.already_enrolled) == (0, 2)
    assert sorted(again.person_ids) == ["A1", "A2"]
    assert _count(engine, people) == 2


def test_a_bulk_file_cannot_take_an_enrolled_identity(
    engine: Engine, vault: IdentityVault, tmp_path: Path
) -> None:
    enrol_one(engine, vault, "13800000001", ID_A, "tester", person_id="A1", now=NOW)
    path = _people_file(
        tmp_path / "people.csv", [("Z9", "13800000009", ID_A), ("A2", "13800000002", ID_B)]
    )
    with pytest.raises(BatchRejected) as caught:
        enrol_file(engine, vault, path, "tester", now=NOW)
    assert [(e.line, e.field) for e in caught.value.errors] == [(2, "national_id")]
    assert "identity_taken" in caught.value.errors[0].reason
    assert _count(engine, people) == 1


def test_repeats_inside_one_file_are_named(engine: Engine, vault: IdentityVault) -> None:
    rows = [
        {"phone": "13800000001", "national_id": ID_A, "person_id": None},
        {"phone": "13800000002", "national_id": ID_A.lower(), "person_id": None},
        {"phone": "13800000001", "national_id": ID_B, "person_id": None},
    ]
    with pytest.raises(BatchRejected) as caught:
        enrol_many(engine, vault, rows, [1, 2, 3], "tester", now=NOW)
    assert {(e.line, e.field, e.reason) for e in caught.value.errors} == {
        (2, "national_id", "repeats line 1"),
        (3, "phone", "repeats line 1"),
    }
