"""Linking court entries to enrolled people: each kind of error, namesakes, determinism."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from kaimen.domain.errors import Rejected
from kaimen.matching.linkage import classify, entry_keys, link_entries
from kaimen.matching.names import normalise_names
from kaimen.matching.records import Population
from kaimen.simulate.court_list import enrolled_people
from kaimen.simulate.names import population_names
from kaimen.simulate.population import make_population
from tests.conftest import make_national_id

TARGET = "T-target"
TARGET_ID = make_national_id("110101", "19850307", "123")  # a man: 17th digit odd
NAMESAKE = "T-namesake"
NAMESAKE_ID = make_national_id("110101", "19850921", "457")
SECOND = "T-second"  # another 曾晓明 in the same region, for an undecidable entry
SECOND_ID = make_national_id("110101", "19790611", "835")


@pytest.fixture(scope="module")
def people() -> pa.Table:
    """3,000 simulated people with names, and three 曾晓明 of region 110101."""
    population = make_population(np.random.default_rng(5), 3_000, 5, dt.date(2026, 7, 1))
    simulated = enrolled_people(population, population_names(5, population.national_id))
    crafted = pa.table(
        {
            "person_id": [TARGET, NAMESAKE, SECOND],
            "name": ["曾晓明", "曾晓明", "曾晓明"],
            "national_id": [TARGET_ID, NAMESAKE_ID, SECOND_ID],
            "birth_date": pa.array(
                [dt.date(1985, 3, 7), dt.date(1985, 9, 21), dt.date(1979, 6, 11)], pa.date32()
            ),
        }
    )
    return pa.concat_tables([simulated, crafted.cast(simulated.schema)])


def entries(*rows: tuple[str | None, str | None, dt.date | None]) -> pa.Table:
    return pa.table(
        {
            "entry_key": [f"e{i}" for i in range(len(rows))],
            "name": pa.array([r[0] for r in rows], pa.string()),
            "id_number": pa.array([r[1] for r in rows], pa.string()),
            "birth_date": pa.array([r[2] for r in rows], pa.date32()),
        }
    )


def masked(number: str) -> str:
    return number[:6] + "*" * 8 + number[14:]


def swap(number: str, i: int) -> str:
    return number[:i] + number[i + 1] + number[i] + number[i + 2 :]


def one_off(number: str, i: int) -> str:
    return number[:i] + str((int(number[i]) + 1) % 10) + number[i + 1 :]


BIRTH = dt.date(1985, 3, 7)
# Evidence strong enough that a link must be automatic.
CLEAR = {
    "full ID, Hanzi": ("曾晓明", TARGET_ID, None),
    "masked ID, birth date": ("曾晓明", masked(TARGET_ID), BIRTH),
    "masked ID, no birth date": ("曾晓明", masked(TARGET_ID), None),
    "Pinyin surname first": ("Zeng Xiaoming", masked(TARGET_ID), BIRTH),
    "Pinyin given name first": ("Xiaoming ZENG", masked(TARGET_ID), BIRTH),
    "Pinyin with tone marks": ("Zēng Xiǎomíng", masked(TARGET_ID), BIRTH),
    "Pinyin with tone numbers": ("zeng1 xiao3 ming2", masked(TARGET_ID), None),
    "homophone character": ("曾小明", masked(TARGET_ID), BIRTH),
    "wrong tail digit, birth date": ("曾晓明", one_off(masked(TARGET_ID), 15), BIRTH),
    "swapped birth digits in the ID": ("曾晓明", swap(TARGET_ID, 12), None),
    "birth date a year off": ("曾晓明", masked(TARGET_ID), dt.date(1986, 3, 7)),
    "no name": (None, TARGET_ID, BIRTH),
}
# Two errors at once: the entry must at least reach a reviewer.
HARD = {
    "Pinyin typo, masked ID, no birth date": ("Zeng Xiaomign", masked(TARGET_ID), None),
    "no ID, birth date": ("曾晓明", None, BIRTH),
    "swapped tail digits, no birth date": ("曾晓明", swap(masked(TARGET_ID), 14), None),
    "wrong region digit, no birth date": ("曾晓明", one_off(masked(TARGET_ID), 3), None),
}


@pytest.mark.parametrize("case", list(CLEAR))
def test_clear_entries_link_to_the_true_person_automatically(people: pa.Table, case: str) -> None:
    found = classify(link_entries(entries(CLEAR[case]), people)).to_pylist()[0]
    assert found["person_id"] == TARGET
    assert found["decision"] == "auto_link", found


@pytest.mark.parametrize("case", list(HARD))
def test_entries_with_two_errors_find_the_true_person_for_review(
    people: pa.Table, case: str
) -> None:
    found = classify(link_entries(entries(HARD[case]), people)).to_pylist()[0]
    assert found["person_id"] == TARGET
    assert found["decision"] in {"auto_link", "review"}, found


def test_a_namesake_born_another_day_with_another_tail_is_not_auto_linked(
    people: pa.Table,
) -> None:
    outsider = make_national_id("110101", "19851102", "561")
    found = classify(
        link_entries(
            entries(
                ("曾晓明", masked(outsider), dt.date(1985, 11, 2)),
                ("曾晓明", masked(outsider), None),
                ("Zeng Xiaoming", outsider, None),
            ),
            people,
        )
    )
    assert "auto_link" not in found.column("decision").to_pylist()


def test_two_equally_good_namesakes_share_the_probability(people: pa.Table) -> None:
    """Only the name and the region are known, and two enrolled 曾晓明 fit the region."""
    found = link_entries(entries(("曾晓明", "110101************", None)), people).to_pylist()[0]
    assert found["person_id"] in {TARGET, NAMESAKE, SECOND}
    assert found["match_probability"] < 0.5


def test_an_entry_without_candidates_has_no_person(people: pa.Table) -> None:
    found = link_entries(entries(("Nobody Atall", None, None)), people).to_pylist()
    assert found == [
        {"entry_key": "e0", "person_id": None, "match_probability": 0.0, "match_weight": None}
    ]


def test_one_row_per_entry_in_the_entries_order(people: pa.Table) -> None:
    table = entries(("曾晓明", TARGET_ID, None), ("x", None, None), ("曾晓明", NAMESAKE_ID, None))
    found = link_entries(table.take([2, 1, 0]), people)
    assert found.column("entry_key").to_pylist() == ["e2", "e1", "e0"]
    assert found.column("person_id").to_pylist() == [NAMESAKE, None, TARGET]


def test_linkage_is_deterministic(people: pa.Table) -> None:
    table = entries(*CLEAR.values(), *HARD.values())
    assert link_entries(table, people).equals(link_entries(table, people))


def test_linkage_is_quiet_and_leaves_no_files(
    people: pa.Table,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    with caplog.at_level(logging.DEBUG):
        link_entries(entries(*CLEAR.values()), people)
    assert capfd.readouterr() == ("", "")
    assert not [r for r in caplog.records if r.name.startswith("splink")]
    assert list(tmp_path.iterdir()) == []


def test_a_larger_population_lowers_the_prior(people: pa.Table) -> None:
    """The same evidence means less when there are more people it could belong to."""
    table = entries(("曾晓明", "110101************", dt.date(1985, 3, 7)))
    small = link_entries(table, people, enrolled_share=0.5).to_pylist()[0]
    smaller_share = link_entries(table, people, enrolled_share=0.05).to_pylist()[0]
    assert smaller_share["match_probability"] < small["match_probability"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.drop_columns(["id_number"]), "lacks column"),
        (lambda t: pa.concat_tables([t, t]), "repeats"),
        (lambda t: t.set_column(3, "birth_date", pa.array(["soon"])), "birth_date must be"),
    ],
)
def test_bad_entries_are_rejected_with_the_reason(
    people: pa.Table, change: object, message: str
) -> None:
    assert callable(change)
    with pytest.raises(Rejected, match=message):
        link_entries(change(entries(("曾晓明", TARGET_ID, None))), people)


def test_an_unusable_share_is_rejected(people: pa.Table) -> None:
    with pytest.raises(Rejected, match="enrolled_share"):
        link_entries(entries(("曾晓明", TARGET_ID, None)), people, enrolled_share=0.0)


def test_candidates_narrowed_by_name_key_and_birth_date_decide_as_the_whole_population(
    people: pa.Table,
) -> None:
    """With the population's size and name frequencies, the candidates sharing a name key or
    a birth date with an entry give the same decisions as everyone."""
    table = entries(*CLEAR.values(), *HARD.values())
    keys = entry_keys(table)
    person_keys = normalise_names(people["name"])["name_unordered"]
    wanted = pc.or_(
        pc.fill_null(pc.is_in(person_keys, value_set=pc.drop_null(keys["name_key"])), False),
        pc.fill_null(
            pc.is_in(people["birth_date"], value_set=pc.drop_null(keys["birth_date"])), False
        ),
    )
    candidates = people.filter(wanted)
    assert candidates.num_rows < people.num_rows / 10
    whole = classify(link_entries(table, people))
    narrowed = classify(
        link_entries(table, candidates, population=Population(people.num_rows, people.num_rows))
    )
    assert narrowed.column("person_id").to_pylist() == whole.column("person_id").to_pylist()
    assert narrowed.column("decision").to_pylist() == whole.column("decision").to_pylist()
    assert np.allclose(
        narrowed.column("match_probability").to_numpy(),
        whole.column("match_probability").to_numpy(),
        atol=0.02,
    )
    # Without the population, the few candidates would look like the whole world: the prior
    # and name frequencies both go wrong.
    alone = link_entries(table, candidates).column("match_probability").to_numpy()
    assert not np.allclose(alone, whole.column("match_probability").to_numpy(), atol=0.02)


def test_entry_keys_are_the_name_syllables_and_the_birth_date() -> None:
    keys = entry_keys(
        entries(
            ("Xiaoming ZENG", TARGET_ID, None),
            ("曾晓明", masked(TARGET_ID), BIRTH),
            (None, None, None),
        )
    ).to_pylist()
    assert keys == [
        {"name_key": "ming xiao zeng", "birth_date": BIRTH},
        {"name_key": "ming xiao zeng", "birth_date": BIRTH},
        {"name_key": None, "birth_date": None},
    ]
