"""A simulated court list of judgment defaulters, with the truth of who each entry is.

Some entries belong to enrolled people of a simulated population, the rest to people who are
not enrolled; a share of those are namesakes of an enrolled person born the same year. Each
entry carries the errors and habits of real published lists (`CourtListShape` sets the
rates): the ID number masked in the middle (`110101********123X`) or missing, a wrong or
swapped digit, the birth date missing or wrong, the name in Pinyin in one of its many
spellings (tones as marks or numbers, given name first, capitals, hyphens, ü as u/v/yu),
a homophone character or a mistyped letter, and one person listed for several cases.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from pypinyin import Style, lazy_pinyin

from kaimen.matching.names import SURNAME_READINGS
from kaimen.simulate.names import hanzi_names, is_male
from kaimen.simulate.population import Population, national_ids

COURTS = (
    ("京", "北京市东城区人民法院"),
    ("沪", "上海市黄浦区人民法院"),
    ("粤", "广州市越秀区人民法院"),
    ("川", "成都市武侯区人民法院"),
    ("浙", "杭州市西湖区人民法院"),
    ("鄂", "武汉市江岸区人民法院"),
)
# Characters a clerk may type for another with the same reading.
HOMOPHONES = {
    "伟": "玮",
    "玮": "伟",
    "静": "婧",
    "丽": "莉",
    "莉": "丽",
    "明": "铭",
    "华": "桦",
    "杰": "洁",
    "军": "君",
    "敏": "旻",
    "娟": "鹃",
    "燕": "艳",
    "艳": "燕",
    "涛": "韬",
    "勇": "永",
    "永": "勇",
    "强": "蔷",
    "林": "琳",
    "琳": "林",
    "红": "虹",
    "芳": "方",
    "平": "萍",
    "萍": "平",
}
PINYIN_STYLES = (
    "surname_given",
    "upper_surname",
    "given_surname",
    "spaced_lower",
    "tone_marks",
    "tone_numbers",
    "hyphenated",
    "joined",
)


@dataclass(frozen=True)
class CourtListShape:
    """Rates of each kind of entry and error (each a probability per entry)."""

    enrolled_share: float = 0.6
    repeat_share: float = 0.08  # of enrolled entries: a second case of an already listed person
    namesake_share: float = 0.25  # of other entries: same name and birth year as someone enrolled
    masked_id: float = 0.65
    missing_id: float = 0.03  # the rest carry the full number
    wrong_id_digit: float = 0.03
    swapped_id_digits: float = 0.03
    missing_birth_date: float = 0.4
    wrong_birth_date: float = 0.03
    pinyin_name: float = 0.3
    homophone: float = 0.03  # of Hanzi names
    pinyin_typo: float = 0.03  # of Pinyin names
    missing_name: float = 0.01


@dataclass(frozen=True)
class CourtList:
    """`entries`: entry_key, name, id_number, birth_date, case_number, court, amount,
    judgment_date, status. `truth`: entry_key, person_id (null when the person is not
    enrolled), errors (the kinds applied, comma-separated, '' for none)."""

    entries: pa.Table
    truth: pa.Table


@dataclass(frozen=True)
class _People:
    name: npt.NDArray[np.str_]
    national_id: npt.NDArray[np.str_]
    birth_date: npt.NDArray[np.datetime64]
    person_id: npt.NDArray[np.object_]


def _outsiders(
    rng: np.random.Generator, population: Population, names: pa.Array, count: int, namesakes: int
) -> _People:
    """People who are not enrolled; the first `namesakes` share an enrolled person's name and
    birth year."""
    enrolled_names = np.asarray(names.to_numpy(zero_copy_only=False), dtype=str)
    twin = rng.integers(0, population.size, namesakes)
    twin_year = population.birth_date[twin].astype("datetime64[Y]")
    twin_births = twin_year.astype("datetime64[D]") + rng.integers(0, 365, namesakes).astype(
        "timedelta64[D]"
    )
    other_births = population.birth_date[rng.integers(0, population.size, count - namesakes)]
    births = np.concatenate([twin_births, other_births])
    taken = set(population.national_id.to_pylist())
    ids = np.asarray(national_ids(rng, births).to_numpy(zero_copy_only=False), dtype=str)
    for _ in range(100):  # an outsider must not hold an enrolled person's number
        clash = np.fromiter((i in taken for i in ids), dtype=bool, count=len(ids))
        if not clash.any():
            break
        ids[clash] = np.asarray(
            national_ids(rng, births[clash]).to_numpy(zero_copy_only=False), dtype=str
        )
    own_names = np.asarray(
        hanzi_names(rng, is_male(pa.array(ids))).to_numpy(zero_copy_only=False), dtype=str
    )
    chosen = np.concatenate([enrolled_names[twin], own_names[namesakes:]])
    return _People(chosen, ids, births, np.full(count, None, dtype=object))


def _digit_error(rng: np.random.Generator, number: str, swap: bool) -> str:
    chars = list(number)
    if swap:
        candidates = [i for i in range(17) if chars[i] != chars[i + 1]]
        if candidates:
            i = int(rng.choice(candidates))
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        return "".join(chars)
    i = int(rng.integers(0, 18))
    chars[i] = str((int(chars[i]) + int(rng.integers(1, 10))) % 10) if chars[i] != "X" else "0"
    return "".join(chars)


def _surname_split(hanzi: str) -> tuple[str, str]:
    size = 2 if hanzi[:2] in SURNAME_READINGS else 1
    return hanzi[:size], hanzi[size:]


def _umlaut(rng: np.random.Generator, syllable: str) -> str:
    if "v" not in syllable:
        return syllable
    return syllable.replace("v", str(rng.choice(["u", "v", "ü", "yu"])))


def _pinyin(rng: np.random.Generator, hanzi: str, style: str) -> str:
    """One Pinyin spelling of a Hanzi name, as a clerk might write it."""
    surname_hanzi, given_hanzi = _surname_split(hanzi)
    surname = SURNAME_READINGS.get(surname_hanzi) or "".join(lazy_pinyin(surname_hanzi))
    given = [_umlaut(rng, s) for s in lazy_pinyin(given_hanzi)]
    surname = _umlaut(rng, surname)
    if style == "tone_marks":
        return " ".join(
            [
                "".join(lazy_pinyin(surname_hanzi, style=Style.TONE)).capitalize(),
                "".join(lazy_pinyin(given_hanzi, style=Style.TONE)).capitalize(),
            ]
        ).strip()
    if style == "tone_numbers":
        return " ".join(lazy_pinyin(hanzi, style=Style.TONE3))
    joined = "".join(given).capitalize()
    return {
        "surname_given": f"{surname.capitalize()} {joined}",
        "upper_surname": f"{surname.upper()} {joined}",
        "given_surname": f"{joined} {surname.capitalize()}",
        "spaced_lower": " ".join([surname, *given]),
        "hyphenated": f"{surname.capitalize()} {'-'.join(s.capitalize() for s in given)}",
        "joined": surname + "".join(given),
    }[style]


def _typo(rng: np.random.Generator, text: str) -> str:
    letters = [i for i, c in enumerate(text) if c.isalpha()]
    i = int(rng.choice(letters))
    return text[:i] + str(rng.choice(list("aeioungh"))) + text[i + 1 :]


def _homophone(rng: np.random.Generator, hanzi: str) -> str | None:
    places = [i for i, c in enumerate(hanzi) if i > 0 and c in HOMOPHONES]
    if not places:
        return None
    i = int(rng.choice(places))
    return hanzi[:i] + HOMOPHONES[hanzi[i]] + hanzi[i + 1 :]


def _wrong_birth(rng: np.random.Generator, birth: dt.date) -> dt.date:
    if rng.random() < 0.5:
        year = birth.year + int(rng.choice([-1, 1]))
        return birth.replace(year=year, day=min(birth.day, 28))
    return birth + dt.timedelta(days=int(rng.choice([-1, 1])) * int(rng.integers(1, 10)))


def _render(  # one entry as published; loops over entries, never over the population
    rng: np.random.Generator, shape: CourtListShape, name: str, number: str, birth: dt.date
) -> tuple[str | None, str | None, dt.date | None, list[str]]:
    errors: list[str] = []
    draw = rng.random(10)
    shown_name: str | None = name
    if draw[0] < shape.missing_name:
        shown_name, errors = None, [*errors, "missing_name"]
    elif draw[1] < shape.pinyin_name:
        style = str(rng.choice(PINYIN_STYLES))
        shown_name = _pinyin(rng, name, style)
        errors.append(f"pinyin_{style}")
        if draw[2] < shape.pinyin_typo:
            shown_name = _typo(rng, shown_name)
            errors.append("pinyin_typo")
    elif draw[2] < shape.homophone and (changed := _homophone(rng, name)) is not None:
        shown_name = changed
        errors.append("homophone")
    shown_id: str | None = number
    if draw[3] < shape.wrong_id_digit:
        shown_id = _digit_error(rng, number, swap=False)
        errors.append("wrong_id_digit")
    elif draw[4] < shape.swapped_id_digits:
        shown_id = _digit_error(rng, number, swap=True)
        errors.append("swapped_id_digits")
    if draw[5] < shape.missing_id:
        shown_id = None
        errors.append("missing_id")
    elif draw[5] < shape.missing_id + shape.masked_id:
        assert shown_id is not None
        shown_id = shown_id[:6] + "*" * 8 + shown_id[14:]
        errors.append("masked_id")
    shown_birth: dt.date | None = birth
    if draw[6] < shape.missing_birth_date:
        shown_birth = None
        errors.append("missing_birth_date")
    elif draw[7] < shape.wrong_birth_date:
        shown_birth = _wrong_birth(rng, birth)
        errors.append("wrong_birth_date")
    return shown_name, shown_id, shown_birth, errors


def make_court_list(
    rng: np.random.Generator,
    population: Population,
    names: pa.Array,
    entries: int,
    shape: CourtListShape | None = None,
) -> CourtList:
    """`entries` court entries against `population` (whose Hanzi `names` are given, as from
    `kaimen.simulate.names.population_names`), in random order, with their truth."""
    chosen = shape or CourtListShape()
    enrolled_count = round(entries * chosen.enrolled_share)
    outsider_count = entries - enrolled_count
    distinct = round(enrolled_count * (1 - chosen.repeat_share))
    listed = rng.choice(population.size, size=distinct, replace=False)
    listed = np.concatenate([listed, rng.choice(listed, enrolled_count - distinct)])
    outsiders = _outsiders(
        rng, population, names, outsider_count, round(outsider_count * chosen.namesake_share)
    )
    all_names = np.concatenate(
        [np.asarray(names.to_numpy(zero_copy_only=False), dtype=str)[listed], outsiders.name]
    )
    all_ids = np.concatenate(
        [
            np.asarray(population.national_id.to_numpy(zero_copy_only=False), dtype=str)[listed],
            outsiders.national_id,
        ]
    )
    all_births = np.concatenate([population.birth_date[listed], outsiders.birth_date])
    person_ids = np.concatenate(
        [
            np.asarray(population.person_id.to_numpy(zero_copy_only=False), dtype=object)[listed],
            outsiders.person_id,
        ]
    )
    order = rng.permutation(entries)
    rendered = [
        _render(rng, chosen, str(all_names[i]), str(all_ids[i]), all_births[i].astype(dt.date))
        for i in order
    ]
    keys = pa.array([f"E{k:07d}" for k in range(entries)])
    court = rng.integers(0, len(COURTS), entries)
    judgment = np.datetime64("2020-01-01") + rng.integers(0, 6 * 365, entries).astype(
        "timedelta64[D]"
    )
    years = judgment.astype("datetime64[Y]").astype(np.int64) + 1970
    case_numbers = [f"({years[k]}){COURTS[court[k]][0]}0101执{k + 1}号" for k in range(entries)]
    entries_table = pa.table(
        {
            "entry_key": keys,
            "name": pa.array([r[0] for r in rendered], pa.string()),
            "id_number": pa.array([r[1] for r in rendered], pa.string()),
            "birth_date": pa.array([r[2] for r in rendered], pa.date32()),
            "case_number": pa.array(case_numbers),
            "court": pa.array([COURTS[c][1] for c in court]),
            "amount": pa.array(np.round(np.exp(rng.normal(10, 1.2, entries)), 2)),
            "judgment_date": pa.array(judgment.astype("datetime64[D]"), pa.date32()),
            "status": pa.array(
                rng.choice(["entered", "satisfied", "overturned"], entries, p=[0.85, 0.12, 0.03])
            ),
        }
    )
    truth = pa.table(
        {
            "entry_key": keys,
            "person_id": pa.array(person_ids[order].tolist(), pa.string()),
            "errors": pa.array([",".join(r[3]) for r in rendered], pa.string()),
        }
    )
    return CourtList(entries_table, truth)


def enrolled_people(population: Population, names: pa.Array) -> pa.Table:
    """The population as the linkage sees it: person_id, name, national_id, birth_date."""
    return pa.table(
        {
            "person_id": population.person_id,
            "name": names,
            "national_id": population.national_id,
            "birth_date": pa.array(population.birth_date, pa.date32()),
        }
    )


def truth_is_enrolled(truth: pa.Table) -> pa.Array:
    """True for entries that belong to an enrolled person."""
    return pc.is_valid(truth["person_id"])
