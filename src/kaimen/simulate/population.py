"""Simulated people: valid synthetic identity numbers and phones, and latent traits.

Traits (never ingested, written to `traits.parquet` only as ground truth for research):
- `reliability` ~ N(0, 1): the habit of paying on time and returning things;
- `income`: monthly income in CNY, log-normal around 6,000;
- `stability` ~ N(0, 1), correlated 0.3 with reliability: lowers the chance of job loss.
Education, employment, vehicle, renting, commuting and borrowing follow from these.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from kaimen.domain.national_id import CHECK_CHARS, WEIGHTS

# Real county-level codes of GB/T 2260 in large cities; the region carries no behaviour.
REGIONS = np.array(
    [
        *(110101, 110105, 120101, 310101, 310115, 320102, 330106, 440103, 440305, 510104),
        *(420102, 610113, 500103, 370102, 410105, 430102, 350203, 210102, 230103, 530102),
    ],
    dtype=np.int64,
)
MEDIAN_INCOME = 6_000.0
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Population:
    person_id: pa.Array
    national_id: pa.Array
    phone: pa.Array
    birth_date: npt.NDArray[np.datetime64]
    reliability: FloatArray
    income: FloatArray
    stability: FloatArray
    education: npt.NDArray[np.int64]
    employed: npt.NDArray[np.bool_]
    employer: npt.NDArray[np.int64]
    vehicle: npt.NDArray[np.int64]
    renter: npt.NDArray[np.bool_]
    commuter: npt.NDArray[np.bool_]

    @property
    def size(self) -> int:
        return len(self.reliability)

    def traits_table(self) -> pa.Table:
        return pa.table(
            {
                "person_id": self.person_id,
                "reliability": self.reliability,
                "income": self.income,
                "stability": self.stability,
            }
        )

    def enrolment_table(self) -> pa.Table:
        return pa.table(
            {"person_id": self.person_id, "phone": self.phone, "national_id": self.national_id}
        )


def _digits(values: npt.NDArray[np.int64], width: int) -> npt.NDArray[np.int64]:
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return (values[:, None] // powers) % 10


def _text(values: npt.NDArray[np.int64], width: int) -> pa.Array:
    return pc.utf8_lpad(pc.cast(pa.array(values), pa.string()), width=width, padding="0")


def national_ids(rng: np.random.Generator, births: npt.NDArray[np.datetime64]) -> pa.Array:
    """Unique, valid 18-character numbers for the given birth dates."""
    n = len(births)
    region = REGIONS[rng.integers(0, len(REGIONS), n)]
    month_start = births.astype("datetime64[M]")
    year = month_start.astype("datetime64[Y]").astype(np.int64) + 1970
    month = month_start.astype(np.int64) % 12 + 1
    day = (births - month_start.astype("datetime64[D]")).astype(np.int64) + 1
    date_number = year * 10_000 + month * 100 + day
    sequence = rng.integers(0, 1000, n)
    body = region * 10**11 + date_number * 1000 + sequence
    for _ in range(100):
        _, first = np.unique(body, return_index=True)
        clash = np.ones(n, dtype=bool)
        clash[first] = False
        if not clash.any():
            break
        body[clash] = (
            region[clash] * 10**11
            + date_number[clash] * 1000
            + rng.integers(0, 1000, int(clash.sum()))
        )
    check = np.frombuffer(CHECK_CHARS.encode(), dtype=np.uint8)[(_digits(body, 17) @ WEIGHTS) % 11]
    tail = pa.array(check.view("S1").astype(str))
    return pc.binary_join_element_wise(_text(body, 17), tail, "")


def phones(rng: np.random.Generator, n: int) -> pa.Array:
    """Unique mainland mobile numbers in E.164: a bijection of the index keeps them distinct."""
    second = rng.integers(3, 10, n)
    # 3**18 is coprime to 10**9, so i -> i * 3**18 mod 10**9 never repeats.
    rest = (np.arange(n, dtype=np.int64) * 387_420_489 + int(rng.integers(0, 10**9))) % 10**9
    return pc.binary_join_element_wise(pa.scalar("+861"), _text(second, 1), _text(rest, 9), "")


def make_population(rng: np.random.Generator, n: int, seed: int, end: dt.date) -> Population:
    """`n` people aged 18-75 at `end`, their traits and the facts that follow from them."""
    reliability = rng.standard_normal(n)
    stability = 0.3 * reliability + np.sqrt(1 - 0.09) * rng.standard_normal(n)
    income = MEDIAN_INCOME * np.exp(0.6 * rng.standard_normal(n) + 0.1 * stability)
    age_days = rng.integers(18 * 365 + 5, 75 * 365, n)
    births = np.datetime64(end, "D") - age_days.astype("timedelta64[D]")
    log_income = np.log(income / MEDIAN_INCOME)
    education_score = 1.2 * log_income + 0.8 * rng.standard_normal(n)
    education = np.digitize(education_score, [-2.2, -1.4, -0.5, 0.1, 1.0, 1.9])
    employed = rng.random(n) < 1 / (1 + np.exp(-(1.2 + 0.8 * stability + 0.5 * log_income)))
    vehicle = np.where(
        rng.random(n) < 1 / (1 + np.exp(-(1.5 * log_income - 0.7))),
        rng.choice([1, 2, 3], n, p=[0.6, 0.3, 0.1]),
        0,
    )
    person_id = pc.binary_join_element_wise(
        pa.scalar(f"S{seed % 10_000:04d}-"), _text(np.arange(n, dtype=np.int64), 8), ""
    )
    return Population(
        person_id=person_id,
        national_id=national_ids(rng, births),
        phone=phones(rng, n),
        birth_date=births,
        reliability=reliability,
        income=income,
        stability=stability,
        education=education.astype(np.int64),
        employed=employed,
        employer=rng.integers(0, max(50, n // 40), n),
        vehicle=vehicle.astype(np.int64),
        renter=rng.random(n) < 1 / (1 + np.exp(-(-0.2 - 0.6 * log_income))),
        commuter=rng.random(n) < 0.45,
    )
