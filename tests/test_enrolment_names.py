import logging
from pathlib import Path

import pytest
from sqlalchemy import Engine, MetaData, select

from kaimen.domain.errors import BatchRejected, IdentityRejected
from kaimen.domain.person_names import check_name
from kaimen.enrolment import enrol_file, enrol_many, enrol_one
from kaimen.sharing.own_data import export
from kaimen.store import audit, name_index
from kaimen.store.identity_vault import IdentityVault
from kaimen.store.tables import identities
from tests.conftest import NOW, make_national_id

ID_A = make_national_id(birth="19850512", sequence="001")
ID_B = make_national_id(birth="19920101", sequence="002")
ID_C = make_national_id(birth="19920101", sequence="003")


def _names(engine: Engine, vault: IdentityVault) -> dict[str, str]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(identities.c.person_id, identities.c.encrypted_value).where(
                identities.c.kind == "name"
            )
        ).all()
    return {r.person_id: vault.decrypt("name", r.encrypted_value) for r in rows}


def test_a_name_is_kept_encrypted_and_normalised(engine: Engine, vault: IdentityVault) -> None:
    person = enrol_one(engine, vault, "13800138000", ID_A, "t", now=NOW, name="  Wáng   Xiǎomíng ")
    assert _names(engine, vault) == {person: "Wáng Xiǎomíng"}


def test_a_name_is_optional(engine: Engine, vault: IdentityVault) -> None:
    enrol_one(engine, vault, "13800138000", ID_A, "t", now=NOW)
    assert _names(engine, vault) == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("王" * 65, "1-64"),
        ("   ", "1-64"),
        ("Wang2 Wei", "letters"),
        ("王伟; DROP", "letters"),
        ("--", "letters"),
        ("王\u200b伟", "letters"),
    ],
)
def test_a_bad_name_is_refused_and_nothing_stored(
    engine: Engine, vault: IdentityVault, text: str, message: str
) -> None:
    with pytest.raises(IdentityRejected) as caught:
        enrol_one(engine, vault, "13800138000", ID_A, "t", now=NOW, name=text)
    assert caught.value.reason == "name_format"
    assert message in caught.value.message
    with engine.connect() as connection:
        assert connection.execute(select(identities)).all() == []


@pytest.mark.parametrize(
    "text", ["王小明", "买买提·艾力", "O'Neil Wang", "Xiao-Ming Wang", "欧阳 娜娜", "Lü Wei"]
)
def test_real_names_pass_both_checks(engine: Engine, vault: IdentityVault, text: str) -> None:
    assert check_name(text) == text
    report = enrol_many(
        engine, vault, [{"phone": "13800138000", "national_id": ID_A, "name": text}], [1], "t", NOW
    )
    assert _names(engine, vault) == {report.person_ids[0]: text}


def test_a_file_with_a_name_column_names_the_bad_rows(
    engine: Engine, vault: IdentityVault, tmp_path: Path
) -> None:
    path = tmp_path / "people.csv"
    path.write_text(
        "phone,national_id,name\n"
        f"13800000001,{ID_A},王伟\n"
        f"13800000002,{ID_B},Wang Wei 2\n"
        f"13800000003,{ID_C},\n",
        encoding="utf-8",
    )
    with pytest.raises(BatchRejected) as caught:
        enrol_file(engine, vault, path, "t", NOW)
    assert [(e.line, e.field) for e in caught.value.errors] == [(3, "name")]
    assert "name_format" in caught.value.errors[0].reason
    path.write_text(
        "phone,national_id,name\n"
        f"13800000001,{ID_A},王伟\n"
        f"13800000002,{ID_B},Wang  Wei\n"
        f"13800000003,{ID_C},\n",
        encoding="utf-8",
    )
    report = enrol_file(engine, vault, path, "t", NOW)
    assert report.enrolled == 3
    names = _names(engine, vault)
    assert sorted(names.values()) == ["Wang Wei", "王伟"]
    # Hanzi and Pinyin of one name share the first part of the lookup hash: found together.
    prefix = name_index.key_prefixes(vault, ["wang wei"])[0]
    with engine.connect() as connection:
        found = name_index.candidates(connection, [], [prefix])
    assert sorted(found.person_id) == sorted(names)
    assert enrol_file(engine, vault, path, "t", NOW).already_enrolled == 3


def test_a_name_is_never_logged_nor_audited_and_the_export_shows_it(
    engine: Engine, vault: IdentityVault, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.DEBUG)
    try:
        person = enrol_one(engine, vault, "13800138000", ID_A, "t", now=NOW, name="诸葛亮明")
    finally:
        logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    assert "诸葛亮明" not in caplog.text
    metadata = MetaData()
    metadata.reflect(engine)
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            for row in connection.execute(select(table)):
                assert "诸葛亮明" not in " ".join(str(v) for v in row), table.name
    assert audit.verify(engine) >= 1
    document = export(engine, vault, tmp_path / "lake", person, NOW)
    assert document.person.name == "诸葛亮明"
