"""The simulated population: valid, unique identities and phones, plausible birth dates."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from kaimen.domain.national_id import PROVINCE_CODES, check_many
from kaimen.domain.phone import normalise_phone
from kaimen.simulate.population import REGIONS, make_population
from kaimen.simulate.run import simulate

LAST_MONTH = "2026-06"
END = dt.date(2026, 7, 1)  # the day after the last simulated month
TODAY = dt.date(2026, 11, 1)
E164_CN_MOBILE = re.compile(r"\+861[3-9][0-9]{9}")


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("population")
    simulate(300, 6, 11, out, LAST_MONTH)
    return out


@pytest.fixture(scope="module")
def people(simulated: Path) -> pa.Table:
    return pacsv.read_csv(
        simulated / "people.csv",
        convert_options=pacsv.ConvertOptions(
            column_types={
                "person_id": pa.string(),
                "phone": pa.string(),
                "national_id": pa.string(),
            }
        ),
    )


def test_people_file_has_the_enrolment_columns_and_one_row_per_person(people: pa.Table) -> None:
    assert people.column_names == ["person_id", "phone", "national_id", "name"]
    assert people.num_rows == 300
    assert people.column("name").null_count == 0
    assert people.column("person_id")[0].as_py() == "S0011-00000000"
    assert people.column("person_id")[299].as_py() == "S0011-00000299"


def test_every_simulated_national_id_is_valid(people: pa.Table) -> None:
    ids = people.column("national_id").to_pylist()
    result = check_many(ids, TODAY)
    assert result.reasons == [""] * len(ids)
    assert result.normalised == ids  # already normalised: 18 characters, upper-case X
    assert not np.isnat(result.birth_dates).any()


def test_identities_phones_and_person_ids_are_unique(people: pa.Table) -> None:
    for column in ("person_id", "phone", "national_id"):
        values = people.column(column)
        assert pc.count_distinct(values).as_py() == people.num_rows, column


def test_phones_are_e164_mainland_mobiles(people: pa.Table) -> None:
    phones = people.column("phone").to_pylist()
    bad = [p for p in phones if not E164_CN_MOBILE.fullmatch(p)]
    assert bad == []
    # Already in the form enrolment stores, so normalising changes nothing.
    assert [normalise_phone(p) for p in phones] == phones


def test_traits_file_matches_people(simulated: Path, people: pa.Table) -> None:
    traits = pq.read_table(simulated / "traits.parquet")
    assert traits.column_names == ["person_id", "reliability", "income", "stability"]
    assert traits.column("person_id").equals(people.column("person_id"))
    assert pc.min(traits.column("income")).as_py() > 0
    reliability = traits.column("reliability").to_numpy()
    assert abs(float(reliability.mean())) < 0.2
    assert 0.8 < float(reliability.std()) < 1.2


def test_large_population_has_unique_valid_ids_despite_clashes() -> None:
    """Thousands of people on 20 regions and ~20k birth dates make sequence clashes certain."""
    n = 40_000
    population = make_population(np.random.default_rng(5), n, 5, END)
    ids = population.national_id.to_pylist()
    result = check_many(ids, TODAY)
    assert set(result.reasons) == {""}
    assert len(set(ids)) == n
    assert len(set(population.phone.to_pylist())) == n
    assert pc.count_distinct(population.person_id).as_py() == n
    # The birth date coded in the number is the person's birth date.
    assert np.array_equal(result.birth_dates, population.birth_date.astype("datetime64[D]"))
    # Region codes are the documented real county codes.
    regions = {int(v[:6]) for v in ids}
    assert regions <= set(REGIONS.tolist())
    assert {r // 10_000 for r in regions} <= PROVINCE_CODES


def test_ages_are_between_18_and_75_at_the_end() -> None:
    population = make_population(np.random.default_rng(9), 20_000, 9, END)
    end = np.datetime64(END, "D")
    births = population.birth_date.astype("datetime64[D]")
    youngest = births.max()
    oldest = births.min()
    assert youngest <= end - np.timedelta64(18 * 365, "D")
    assert oldest > end - np.timedelta64(75 * 365 + 1, "D")
    ages = (end - births).astype(np.int64) / 365.25
    assert 40 < float(ages.mean()) < 53  # uniform over 18-75: mean ~46.5


def test_traits_follow_the_documented_model() -> None:
    population = make_population(np.random.default_rng(3), 50_000, 3, END)
    reliability, stability = population.reliability, population.stability
    assert 0.25 < float(np.corrcoef(reliability, stability)[0, 1]) < 0.35
    assert 5_500 < float(np.median(population.income)) < 6_500
    log_income = np.log(population.income)
    assert 0.55 < float(log_income.std()) < 0.65
    # Renting is more common at low income; employment more common with stability.
    low = population.income < np.median(population.income)
    assert population.renter[low].mean() > population.renter[~low].mean() + 0.05
    stable = stability > 0
    assert population.employed[stable].mean() > population.employed[~stable].mean() + 0.05


def test_same_seed_same_population_other_seed_other_population() -> None:
    a = make_population(np.random.default_rng(21), 500, 21, END)
    b = make_population(np.random.default_rng(21), 500, 21, END)
    c = make_population(np.random.default_rng(22), 500, 22, END)
    assert a.national_id.equals(b.national_id)
    assert a.phone.equals(b.phone)
    assert np.array_equal(a.reliability, b.reliability)
    assert not a.national_id.equals(c.national_id)
    assert not a.phone.equals(c.phone)
    assert a.person_id[0].as_py() == "S0021-00000000"
    assert c.person_id[0].as_py() == "S0022-00000000"
