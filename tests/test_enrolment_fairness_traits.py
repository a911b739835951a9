"""Enrolment keeps each person's sex and province for the fairness audit alone: encrypted, in
their own table, and gone when the person opts out."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, func, select

from kaimen.domain.audit_groups import TRAITS_KIND, split_traits
from kaimen.enrolment import enrol_many, enrol_one
from kaimen.sharing.own_data import opt_out
from kaimen.store.identity_vault import IdentityVault
from kaimen.store.tables import fairness_traits
from tests.conftest import NOW, make_national_id

# The 17th digit is the sequence's last: odd for a man, even for a woman.
MAN = make_national_id(region="440305", birth="19850512", sequence="017")
WOMAN = make_national_id(region="110101", birth="19920101", sequence="024")


def _traits(engine: Engine, vault: IdentityVault) -> dict[str, tuple[str, str]]:
    with engine.connect() as store:
        rows = store.execute(select(fairness_traits)).all()
    opened = vault.decrypt_many(TRAITS_KIND, [r.traits_encrypted for r in rows])
    return {r.person_id: split_traits(t) for r, t in zip(rows, opened, strict=True)}


def test_enrolment_seals_sex_and_province(engine: Engine, vault: IdentityVault) -> None:
    man = enrol_one(engine, vault, "13800138000", MAN, "tester", now=NOW)
    report = enrol_many(
        engine,
        vault,
        [{"phone": "13900139000", "national_id": WOMAN, "person_id": None, "name": None}],
        [2],
        "tester",
        NOW,
    )
    woman = report.person_ids[0]
    assert _traits(engine, vault) == {man: ("male", "44"), woman: ("female", "11")}
    with engine.connect() as store:
        ciphers = store.execute(select(fairness_traits.c.traits_encrypted)).scalars().all()
    assert not any(" " in c for c in ciphers) and len(set(ciphers)) == 2  # base64, not clear


def test_each_seal_has_its_own_nonce(vault: IdentityVault) -> None:
    """The same sex and province never give the same ciphertext, so equal ciphertexts cannot
    tell who shares a group."""
    sealed = vault.encrypt_many(TRAITS_KIND, ["male 44", "male 44"])
    assert sealed[0] != sealed[1]
    assert vault.decrypt_many(TRAITS_KIND, sealed) == ["male 44", "male 44"]


def test_replayed_enrolment_adds_no_second_row(engine: Engine, vault: IdentityVault) -> None:
    row = {"phone": "13800138000", "national_id": MAN, "person_id": "P-fair", "name": None}
    enrol_many(engine, vault, [row], [2], "tester", NOW)
    again = enrol_many(engine, vault, [row], [2], "tester", NOW)
    assert again.already_enrolled == 1
    with engine.connect() as store:
        assert store.execute(select(func.count()).select_from(fairness_traits)).scalar_one() == 1


def test_opting_out_deletes_the_row(engine: Engine, vault: IdentityVault, lake_root: Path) -> None:
    man = enrol_one(engine, vault, "13800138000", MAN, "tester", now=NOW)
    woman = enrol_one(engine, vault, "13900139000", WOMAN, "tester", now=NOW)
    report = opt_out(engine, lake_root, man, "person:" + man, now=NOW)
    assert report.rows_removed.get("fairness_traits") == 1
    assert set(_traits(engine, vault)) == {woman}
