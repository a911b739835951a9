import datetime as dt
import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, MetaData, func, select

from kaimen.domain.errors import BatchRejected, EnrolmentConflict, IdentityRejected
from kaimen.enrolment import enrol_file, enrol_many, enrol_one
from kaimen.store import audit
from kaimen.store.identity_vault import IdentityVault
from kaimen.store.tables import fairness_traits, identities, people
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


# -- the bulk path ---------------------------------------------------------------------------


def _birth(i: int) -> dt.date:
    return dt.date(1950 + i // 336, 1 + i // 28 % 12, 1 + i % 28)


def _numbered_ids(count: int) -> list[str]:
    """`count` distinct valid ID numbers (sequence and birth day vary)."""
    return [
        make_national_id(birth=_birth(i).strftime("%Y%m%d"), sequence=f"{i % 1000:03d}")
        for i in range(count)
    ]


def _big_file(path: Path, count: int) -> tuple[Path, list[str]]:
    ids = _numbered_ids(count)
    rows = [(f"B{i:05d}", f"139{i:08d}", ids[i]) for i in range(count)]
    return _people_file(path, rows), ids


def test_a_big_file_with_one_bad_row_near_its_end_stores_nobody(
    engine: Engine, vault: IdentityVault, tmp_path: Path
) -> None:
    path, ids = _big_file(tmp_path / "people.csv", 4_000)
    lines = path.read_text().splitlines()
    lines[3_990] = lines[3_990].replace(",139", ",039")  # line 3,991: no longer a phone
    lines[3_995] = f"B99999,13999999999,{ids[17]}"  # line 3,996: repeats line 19's ID
    path.write_text("\n".join(lines) + "\n")
    audit_before = audit.count(engine)
    with pytest.raises(BatchRejected) as caught:
        enrol_file(engine, vault, path, "tester", now=NOW)
    assert [(e.line, e.field, e.reason.split(":")[0]) for e in caught.value.errors] == [
        (3_991, "phone", "phone_format"),
        (3_996, "national_id", "repeats line 19"),
    ]
    assert _count(engine, people) == 0
    assert _count(engine, identities) == 0
    assert audit.count(engine) == audit_before


def test_a_big_clean_file_is_stored_whole_and_readable(
    engine: Engine, vault: IdentityVault, tmp_path: Path
) -> None:
    path, ids = _big_file(tmp_path / "people.csv", 3_000)
    report = enrol_file(engine, vault, path, "tester", now=NOW)
    assert (report.enrolled, report.already_enrolled) == (3_000, 0)
    with engine.connect() as connection:
        person = connection.execute(select(people).where(people.c.person_id == "B02999")).one()
        rows = connection.execute(
            select(identities).where(identities.c.person_id == "B02999")
        ).all()
    # What the driver wrote reads back through SQLAlchemy's types exactly.
    assert person.enrolled_at == NOW
    assert person.status == "active"
    assert person.birth_date == _birth(2999)
    by_kind = {r.kind: r for r in rows}
    assert by_kind["phone"].created_at == NOW
    assert vault.decrypt("cn_resident_id", by_kind["cn_resident_id"].encrypted_value) == ids[2999]
    assert vault.decrypt("phone", by_kind["phone"].encrypted_value) == "+8613900002999"
    assert by_kind["cn_resident_id"].lookup_hash == vault.lookup_hash("cn_resident_id", ids[2999])
    assert _count(engine, identities) == 6_000
    assert audit.verify(engine) >= 1


def test_phones_in_any_accepted_form_are_stored_normalised_and_compared_so(
    engine: Engine, vault: IdentityVault, tmp_path: Path
) -> None:
    ids = _numbered_ids(4)
    path = _people_file(
        tmp_path / "people.csv",
        [
            ("A1", "+86 138-0000-0001", ids[0]),
            ("A2", "008613800000002", ids[1]),
            ("A3", "13800000003", ids[2]),
            ("A4", "+4930123456", ids[3]),
        ],
    )
    enrol_file(engine, vault, path, "tester", now=NOW)
    with engine.connect() as connection:
        stored = connection.execute(
            select(identities.c.person_id, identities.c.encrypted_value).where(
                identities.c.kind == "phone"
            )
        ).all()
    phones = {r.person_id: vault.decrypt("phone", r.encrypted_value) for r in stored}
    assert phones == {
        "A1": "+8613800000001",
        "A2": "+8613800000002",
        "A3": "+8613800000003",
        "A4": "+4930123456",
    }
    again = _people_file(tmp_path / "again.csv", [("A9", "(138) 0000 0003", ID_A)])
    with pytest.raises(BatchRejected) as caught:
        enrol_file(engine, vault, again, "tester", now=NOW)
    assert [(e.line, e.field) for e in caught.value.errors] == [(2, "phone")]
    assert "phone_taken" in caught.value.errors[0].reason


def test_repeats_of_every_kind_inside_a_file_name_their_first_line(
    engine: Engine, vault: IdentityVault, tmp_path: Path
) -> None:
    ids = _numbered_ids(5)
    path = _people_file(
        tmp_path / "people.csv",
        [
            ("A1", "13800000001", ids[0]),
            ("A2", "13800000002", ids[1]),
            ("A3", "+86 138 0000 0001", ids[2]),  # the phone of line 2
            ("A1", "13800000004", ids[3]),  # the person id of line 2
            ("A5", "13800000005", ids[1].lower()),  # the ID of line 3
        ],
    )
    with pytest.raises(BatchRejected) as caught:
        enrol_file(engine, vault, path, "tester", now=NOW)
    assert {(e.line, e.field, e.reason) for e in caught.value.errors} == {
        (4, "phone", "repeats line 2"),
        (5, "person_id", "repeats line 2"),
        (6, "national_id", "repeats line 3"),
    }
    assert _count(engine, people) == 0


def test_a_file_against_the_store_names_each_conflict_and_stores_nothing(
    engine: Engine, vault: IdentityVault, tmp_path: Path
) -> None:
    ids = _numbered_ids(6)
    _people_file(
        tmp_path / "first.csv",
        [("A1", "13800000001", ids[0]), ("A2", "13800000002", ids[1])],
    )
    enrol_file(engine, vault, tmp_path / "first.csv", "tester", now=NOW)
    path = _people_file(
        tmp_path / "second.csv",
        [
            ("A1", "13800000001", ids[0]),  # the same person again: fine
            ("A3", "13800000002", ids[2]),  # A2's phone
            ("A2", "13800000004", ids[3]),  # A2's person id
            ("A9", "13800000009", ids[1]),  # A2's ID under another person id
            ("A5", "13800000005", ids[4]),  # new
        ],
    )
    with pytest.raises(BatchRejected) as caught:
        enrol_file(engine, vault, path, "tester", now=NOW)
    assert [(e.line, e.field, e.reason.split(":")[0]) for e in caught.value.errors] == [
        (3, "phone", "phone_taken"),
        (4, "person_id", "person_id_taken"),
        (5, "national_id", "identity_taken"),
    ]
    assert _count(engine, people) == 2
    fine = _people_file(
        tmp_path / "third.csv", [("A1", "13800000001", ids[0]), ("A5", "13800000005", ids[4])]
    )
    report = enrol_file(engine, vault, fine, "tester", now=NOW)
    assert (report.enrolled, report.already_enrolled) == (1, 1)
    assert report.person_ids == ["A5", "A1"]


def test_a_file_whose_last_row_is_enrolled_keeps_one_copy_of_everyone(
    engine: Engine, vault: IdentityVault, tmp_path: Path
) -> None:
    # The first try writes without looking anyone up; the enrolled last row makes the unique
    # index refuse it, and what it had written before that row must be gone with it.
    ids = _numbered_ids(401)
    enrol_file(
        engine,
        vault,
        _people_file(tmp_path / "one.csv", [("B400", "13900000400", ids[400])]),
        "tester",
        now=NOW,
    )
    rows = [(f"B{i}", f"139{i:08d}", ids[i]) for i in range(401)]
    report = enrol_file(engine, vault, _people_file(tmp_path / "all.csv", rows), "tester", now=NOW)
    assert (report.enrolled, report.already_enrolled) == (400, 1)
    assert report.person_ids == [f"B{i}" for i in range(401)]
    assert _count(engine, people) == 401
    assert _count(engine, identities) == 2 * 401
    assert _count(engine, fairness_traits) == 401
    assert audit.count(engine) == 2


def test_a_file_without_person_ids_gets_fresh_opaque_ones(
    engine: Engine, vault: IdentityVault, tmp_path: Path
) -> None:
    ids = _numbered_ids(300)
    path = tmp_path / "people.csv"
    path.write_text("phone,national_id\n" + "".join(f"137{i:08d},{ids[i]}\n" for i in range(300)))
    report = enrol_file(engine, vault, path, "tester", now=NOW)
    assert report.enrolled == 300
    assert len(set(report.person_ids)) == 300
    assert all(re.fullmatch(r"P[0-9A-F]{16}", p) for p in report.person_ids)
    again = enrol_file(engine, vault, path, "tester", now=NOW)
    assert (again.enrolled, again.already_enrolled) == (0, 300)
    assert sorted(again.person_ids) == sorted(report.person_ids)


def test_a_csv_with_a_bom_quotes_and_utf8_is_read_as_written(
    engine: Engine, vault: IdentityVault, tmp_path: Path
) -> None:
    path = tmp_path / "people.csv"
    path.write_bytes(
        (
            '\ufeff"person_id","phone","national_id"\r\n'
            f'"A1","+86 138 0000 0001","{ID_A}"\r\n'
            f'"A,2","13800000002","{ID_B}"\r\n'
            f'"Zoë","13800000003","{make_national_id(sequence="003")}"\r\n'
        ).encode()
    )
    with pytest.raises(BatchRejected) as caught:
        enrol_file(engine, vault, path, "tester", now=NOW)
    assert [(e.line, e.field) for e in caught.value.errors] == [(3, "person_id"), (4, "person_id")]
    assert _count(engine, people) == 0
    lines = path.read_bytes().decode().splitlines()
    path.write_bytes("\r\n".join(lines[:2]).encode() + b"\r\n")
    report = enrol_file(engine, vault, path, "tester", now=NOW)
    assert report.person_ids == ["A1"]


READ_AND_ENROL = """
import sys
from pathlib import Path
from kaimen.enrolment import enrol_file
from kaimen.input_files import read_input
from kaimen.store.database import open_store
from kaimen.store.identity_vault import IdentityVault
path, url = Path(sys.argv[1]), sys.argv[2]
read_input(path, ("person_id", "phone", "national_id"))
print("pandas" in sys.modules)
report = enrol_file(open_store(url), IdentityVault(bytes(32)), path, "tester")
print("pandas" in sys.modules, report.enrolled)
"""


def test_reading_a_csv_and_enrolling_it_never_imports_pandas(tmp_path: Path) -> None:
    path = _people_file(
        tmp_path / "people.csv",
        [("A1", "13800000001", ID_A), ("", "+86 138 0000 0002", ID_B)],
    )
    done = subprocess.run(
        [sys.executable, "-c", READ_AND_ENROL, str(path), f"sqlite:///{tmp_path / 'k.sqlite'}"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split() == ["False", "False", "2"]
