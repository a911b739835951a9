"""The groups the fairness audit compares people across: sex, age band and province.

Sex and province come from the national ID number (`national_id.sex_of`, `province_of`); age
from the birth date, at the end of the month the scores are for. None of them is ever a model
input: they exist to check that the model treats groups alike.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from kaimen.domain import national_id

# The identity vault binds each ciphertext to its kind. Sex and province are sealed together,
# one value per person ("female 44"): one encryption per enrolment, not two.
TRAITS_KIND = "fairness_traits"

Attribute = Literal["sex", "age_band", "region"]
ATTRIBUTES: tuple[Attribute, ...] = ("sex", "age_band", "region")
SEXES = ("female", "male")

# (label, lowest age in the band); the bands of common fairness reporting, with the under-25s
# apart because thin credit histories cluster there.
AGE_BANDS: tuple[tuple[str, int], ...] = (
    ("under 18", 0),
    ("18-24", 18),
    ("25-34", 25),
    ("35-44", 35),
    ("45-54", 45),
    ("55-64", 55),
    ("65+", 65),
)

# GB/T 2260 province-level divisions, by the two digits the ID number starts with.
PROVINCES: dict[str, str] = {
    "11": "Beijing",
    "12": "Tianjin",
    "13": "Hebei",
    "14": "Shanxi",
    "15": "Inner Mongolia",
    "21": "Liaoning",
    "22": "Jilin",
    "23": "Heilongjiang",
    "31": "Shanghai",
    "32": "Jiangsu",
    "33": "Zhejiang",
    "34": "Anhui",
    "35": "Fujian",
    "36": "Jiangxi",
    "37": "Shandong",
    "41": "Henan",
    "42": "Hubei",
    "43": "Hunan",
    "44": "Guangdong",
    "45": "Guangxi",
    "46": "Hainan",
    "50": "Chongqing",
    "51": "Sichuan",
    "52": "Guizhou",
    "53": "Yunnan",
    "54": "Tibet",
    "61": "Shaanxi",
    "62": "Gansu",
    "63": "Qinghai",
    "64": "Ningxia",
    "65": "Xinjiang",
    "71": "Taiwan",
    "81": "Hong Kong",
    "82": "Macao",
    "83": "Taiwan residents (permit)",
}


def age_on(birth: dt.date, day: dt.date) -> int:
    """Whole years of age on `day`."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def age_band(age: int) -> str:
    """The band an age in whole years falls in."""
    label = AGE_BANDS[0][0]
    for name, lowest in AGE_BANDS:
        if age >= lowest:
            label = name
    return label


def region_label(code: str) -> str:
    """'44 Guangdong' for a province code; the bare code when it names no province."""
    name = PROVINCES.get(code)
    return f"{code} {name}" if name else code


def traits_of(value: str) -> str:
    """What the audit keeps of a valid ID number: its sex and province, as one text."""
    return f"{national_id.sex_of(value)} {national_id.province_of(value)}"


def split_traits(text: str) -> tuple[str, str]:
    """(sex, province code) of a `traits_of` text."""
    sex, _, province = text.partition(" ")
    return sex, province
