"""The simulated court list: known truth, realistic errors, shared names, determinism."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from kaimen.domain.national_id import check_many
from kaimen.simulate.court_list import CourtList, enrolled_people, make_court_list
from kaimen.simulate.names import is_male, population_names
from kaimen.simulate.population import Population, make_population

END = dt.date(2026, 7, 1)


@pytest.fixture(scope="module")
def population() -> Population:
    return make_population(np.random.default_rng(3), 4_000, 3, END)


@pytest.fixture(scope="module")
def names(population: Population) -> pa.Array:
    return population_names(3, population.national_id)


@pytest.fixture(scope="module")
def court_list(population: Population, names: pa.Array) -> CourtList:
    return make_court_list(np.random.default_rng(9), population, names, 1_000)


def test_names_do_not_change_the_population() -> None:
    first = make_population(np.random.default_rng(3), 500, 3, END)
    population_names(3, first.national_id)
    second = make_population(np.random.default_rng(3), 500, 3, END)
    assert first.national_id.equals(second.national_id)
    assert np.array_equal(first.reliability, second.reliability)


def test_common_names_are_shared_by_many(names: pa.Array) -> None:
    counts = Counter(names.to_pylist())
    assert counts.most_common(1)[0][1] >= 5
    assert sum(c for c in counts.values() if c > 1) > 0.1 * len(names)
    surnames = Counter(n[0] for n in names.to_pylist())
    assert {s for s, _ in surnames.most_common(4)} <= {"王", "李", "张", "刘", "陈"}


def test_given_names_follow_the_sex_in_the_id(population: Population, names: pa.Array) -> None:
    male = is_male(population.national_id)
    given = [n[-1] for n in names.to_pylist()]
    assert "伟" in {g for g, m in zip(given, male, strict=True) if m}
    assert "伟" not in {g for g, m in zip(given, male, strict=True) if not m}


def test_truth_names_enrolled_people_for_about_the_enrolled_share(
    court_list: CourtList, population: Population
) -> None:
    truth = court_list.truth
    assert truth.column("entry_key").equals(court_list.entries.column("entry_key"))
    enrolled = pc.drop_null(truth["person_id"])
    assert len(enrolled) == 600
    assert pc.all(pc.is_in(enrolled, population.person_id)).as_py()
    assert 0 < len(set(enrolled.to_pylist())) < 600  # some people have several cases


def test_untouched_ids_are_the_persons_own(court_list: CourtList, population: Population) -> None:
    own = dict(
        zip(population.person_id.to_pylist(), population.national_id.to_pylist(), strict=True)
    )
    rows = court_list.entries.to_pylist()
    for row, truth in zip(rows, court_list.truth.to_pylist(), strict=True):
        errors = truth["errors"].split(",")
        if (
            truth["person_id"] is None
            or "wrong_id_digit" in errors
            or "swapped_id_digits" in errors
        ):
            continue
        number = own[truth["person_id"]]
        if "missing_id" in errors:
            assert row["id_number"] is None
        elif "masked_id" in errors:
            assert row["id_number"] == number[:6] + "********" + number[14:]
        else:
            assert row["id_number"] == number


def test_outsiders_hold_valid_numbers_no_enrolled_person_has(
    court_list: CourtList, population: Population
) -> None:
    outsiders = court_list.entries.filter(pc.is_null(court_list.truth["person_id"]))
    untouched = [
        n
        for n, e in zip(
            outsiders["id_number"].to_pylist(),
            court_list.truth.filter(pc.is_null(court_list.truth["person_id"]))[
                "errors"
            ].to_pylist(),
            strict=True,
        )
        if n and "*" not in n and "id_digit" not in e
    ]
    assert untouched
    assert all(r == "" for r in check_many(untouched, END).reasons)
    assert not set(untouched) & set(population.national_id.to_pylist())


def test_some_outsiders_are_namesakes_born_the_same_year(
    court_list: CourtList, population: Population, names: pa.Array
) -> None:
    enrolled = {
        (n, b.astype("datetime64[Y]").astype(int))
        for n, b in zip(names.to_pylist(), population.birth_date, strict=True)
    }
    outsiders = court_list.entries.filter(pc.is_null(court_list.truth["person_id"])).to_pylist()
    namesakes = [
        o
        for o in outsiders
        if o["birth_date"] is not None and (o["name"], o["birth_date"].year - 1970) in enrolled
    ]
    assert len(namesakes) >= 20


def test_every_kind_of_error_occurs(court_list: CourtList) -> None:
    kinds = Counter(k for e in court_list.truth["errors"].to_pylist() for k in e.split(",") if k)
    for kind in (
        "masked_id",
        "missing_id",
        "wrong_id_digit",
        "swapped_id_digits",
        "missing_birth_date",
        "wrong_birth_date",
        "homophone",
        "missing_name",
    ):
        assert kinds[kind] > 0, kind
    assert sum(v for k, v in kinds.items() if k.startswith("pinyin_")) > 200


def test_the_same_seed_gives_the_same_list(population: Population, names: pa.Array) -> None:
    first = make_court_list(np.random.default_rng(4), population, names, 200)
    second = make_court_list(np.random.default_rng(4), population, names, 200)
    assert first.entries.equals(second.entries) and first.truth.equals(second.truth)


def test_enrolled_people_table_has_the_linkage_columns(
    population: Population, names: pa.Array
) -> None:
    table = enrolled_people(population, names)
    assert table.column_names == ["person_id", "name", "national_id", "birth_date"]
    assert table.num_rows == population.size
