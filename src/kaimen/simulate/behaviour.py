"""How simulated people behave, month by month: the generative model behind the events.

Each month every person has a financial *stress* that follows an AR(1) process
(`stress = 0.8 stress + N(0, 0.45) + 1.8 job_loss`, job loss more likely when stability is
low) and a *risk* `z = -1.1 reliability - 0.45 log(income / 6000) + 0.9 stress`. Risk drives,
through logistic links, the chance that a bill or instalment is late or defaulted, that a
rental ends late or unpaid, and that a fine goes unpaid; income drives spending, rent and
loan sizes. Loans default for good (the loan stops) and sometimes lead to a court judgment.
Outcomes are drawn from the traits, never from features, so a model that learns them learns
behaviour. Events that would happen after the simulation's end are not yet observable and are
dropped; each event is recorded by its source a little after it happens.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from kaimen.domain.events import EDUCATION_LEVELS, MERCHANT_CATEGORIES, VEHICLE_STATUSES
from kaimen.lake.schema import LAKE_SCHEMA
from kaimen.simulate.population import MEDIAN_INCOME, Population

US_PER_DAY = 86_400_000_000
EVENT_SCHEMA = pa.schema([f for f in LAKE_SCHEMA if f.name != "schema_version"])
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

# Everyday categories first; gaming and luxury are drawn separately, tilted by reliability.
EVERYDAY = [c for c in MERCHANT_CATEGORIES if c not in ("gaming", "luxury")]
EVERYDAY_WEIGHTS = np.array([30, 18, 12, 4, 3, 3, 5, 8, 6, 6, 2, 3], dtype=np.float64)
RENTALS = {  # item: (partner, low fee, high fee)
    "bike": ("bikeshare-sim", 1.5, 5.0),
    "umbrella": ("umbrella-sim", 2.0, 10.0),
    "power_bank": ("powerbank-sim", 2.0, 8.0),
    "car": ("carhire-sim", 200.0, 600.0),
    "hotel_room": ("hotels-sim", 200.0, 900.0),
}


def _sigmoid(x: FloatArray) -> FloatArray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class _State:
    """What carries over from one month to the next."""

    stress: FloatArray
    due_day: IntArray
    rent: FloatArray
    card_holder: npt.NDArray[np.bool_]
    loan_left: IntArray
    instalment: FloatArray
    friend_pairs: tuple[IntArray, IntArray] = field(
        default_factory=lambda: (np.empty(0, np.int64), np.empty(0, np.int64))
    )


@dataclass(frozen=True)
class _Block:
    """One kind of event in one month, before it becomes Arrow columns."""

    kind: str
    source: str
    tag: str
    person: IntArray
    occurred_us: IntArray
    columns: dict[str, pa.Array | npt.NDArray[np.generic]]


def _amount(values: FloatArray) -> pa.Array:
    """Exact 2-decimal amounts, built from integer cents (never through binary fractions).

    A decimal128 value is a 128-bit little-endian integer of the unscaled amount; cents are
    positive and far below 2**63, so the high word is zero.
    """
    cents = np.maximum(np.round(values * 100).astype(np.int64), 1)
    words = np.zeros((len(cents), 2), dtype=np.int64)
    words[:, 0] = cents
    return pa.Array.from_buffers(
        pa.decimal128(18, 2), len(cents), [None, pa.py_buffer(words.tobytes())]
    )


def _dates(days: IntArray) -> pa.Array:
    return pa.array(days.astype(np.int32), pa.date32())


def _choice(labels: list[str] | tuple[str, ...], index: IntArray) -> pa.Array:
    return pa.DictionaryArray.from_arrays(
        pa.array(index.astype(np.int32)), pa.array(list(labels))
    ).cast(pa.string())


class Simulator:
    """Generates the population's events one month at a time (deterministic by seed)."""

    def __init__(self, population: Population, rng: np.random.Generator, end_us: int) -> None:
        self.pop = population
        self.rng = rng
        self.end_us = end_us
        n = population.size
        self.log_income = np.log(population.income / MEDIAN_INCOME)
        self.state = _State(
            stress=0.7 * rng.standard_normal(n),
            due_day=rng.integers(1, 29, n),
            rent=population.income * rng.uniform(0.2, 0.35, n),
            card_holder=rng.random(n) < _sigmoid(0.8 + 0.8 * self.log_income),
            loan_left=np.where(rng.random(n) < 0.4, rng.integers(1, 37, n), 0),
            instalment=population.income * rng.uniform(0.08, 0.3, n),
        )
        self._counter = 0

    # -- one month ---------------------------------------------------------------------
    def month(self, index: int, month: np.datetime64) -> pa.Table:
        """All events generated in `month` (some occur later, e.g. defaults after 90 days)."""
        rng, pop, state = self.rng, self.pop, self.state
        n = pop.size
        start_day = int(month.astype("datetime64[D]").astype(np.int64))
        days = int(
            ((month + 1).astype("datetime64[D]") - month.astype("datetime64[D]")).astype(int)
        )
        start_us = start_day * US_PER_DAY
        job_loss = rng.random(n) < 0.006 * np.exp(-0.6 * pop.stability)
        state.stress = 0.8 * state.stress + 0.45 * rng.standard_normal(n) + 1.8 * job_loss
        z = -1.1 * pop.reliability - 0.45 * self.log_income + 0.9 * state.stress
        label = str(month)
        blocks: list[_Block] = []
        blocks += self._payments(z, start_us, days * US_PER_DAY)
        everyone = np.arange(n)
        blocks += self._repayments(
            "utility_payment",
            "utility-sim",
            everyone,
            start_day,
            z,
            pop.income**0.2 * rng.uniform(8, 45, n),
            -2.9,
            -8.6,
        )
        card = np.flatnonzero(state.card_holder)
        blocks += self._repayments(
            "bill_repayment",
            "cardbank-sim",
            card,
            start_day,
            z,
            pop.income * rng.uniform(0.05, 0.3, n),
            -2.6,
            -7.6,
        )
        renters = np.flatnonzero(pop.renter)
        blocks += self._repayments(
            "rent_payment", "landlords-sim", renters, start_day, z, state.rent, -2.8, -8.9
        )
        borrowers = np.flatnonzero(state.loan_left > 0)
        loans = self._repayments(
            "loan_repayment", "lender-sim", borrowers, start_day, z, state.instalment, -2.8, -7.3
        )
        blocks += loans
        if loans:
            failed = np.asarray(loans[0].columns["_defaulted"], dtype=bool)
            defaulted, defaulted_us = loans[0].person[failed], loans[0].occurred_us[failed]
        else:
            defaulted, defaulted_us = np.empty(0, np.int64), np.empty(0, np.int64)
        state.loan_left = np.maximum(state.loan_left - 1, 0)
        state.loan_left[defaulted] = 0  # a defaulted loan is closed for good
        opening = (state.loan_left == 0) & (rng.random(n) < 0.03)
        opened = int(opening.sum())
        state.loan_left[opening] = rng.integers(6, 37, opened)
        state.instalment[opening] = pop.income[opening] * rng.uniform(0.08, 0.3, opened)
        blocks += self._judgments(defaulted, defaulted_us)
        blocks += self._rentals(z, start_us, days * US_PER_DAY)
        blocks += self._fines(z, start_us, days * US_PER_DAY)
        blocks += self._donations(start_us, days * US_PER_DAY)
        if index == 0:
            blocks += self._attributes(start_us, days * US_PER_DAY)
            blocks += self._friends_added(start_us, days * US_PER_DAY)
        else:
            blocks += self._friends_removed(start_us, days * US_PER_DAY)
        return self._assemble(blocks, label)

    # -- kinds of events ---------------------------------------------------------------
    def _payments(self, z: FloatArray, start_us: int, span_us: int) -> list[_Block]:
        rng, pop = self.rng, self.pop
        counts = rng.poisson(3.0 * (pop.income / MEDIAN_INCOME) ** 0.3)
        person = np.repeat(np.arange(pop.size), counts)
        m = len(person)
        amount = np.minimum(
            np.exp(np.log(pop.income[person] * 0.03) + 0.9 * rng.standard_normal(m)), 50_000.0
        )
        category = rng.choice(len(EVERYDAY), m, p=EVERYDAY_WEIGHTS / EVERYDAY_WEIGHTS.sum())
        labels = [*EVERYDAY, "gaming", "luxury"]
        tilt = rng.random(m) < 0.05 * np.exp(0.5 * z[person])
        category = np.where(tilt, len(EVERYDAY) + (rng.random(m) < 0.4), category)
        return [
            _Block(
                "payment",
                "payments-sim",
                "pay",
                person,
                start_us + rng.integers(0, span_us, m),
                {
                    "amount": _amount(amount),
                    "currency": "CNY",
                    "merchant_category": _choice(labels, category),
                },
            )
        ]

    def _repayments(
        self,
        kind: str,
        source: str,
        person: IntArray,
        start_day: int,
        z: FloatArray,
        amount: FloatArray,
        late_bias: float,
        default_bias: float,
    ) -> list[_Block]:
        rng = self.rng
        m = len(person)
        if m == 0:
            return []
        risk = z[person]
        u = rng.random(m)
        p_default = _sigmoid(default_bias + 1.5 * risk)
        p_late = _sigmoid(late_bias + 1.1 * risk)
        status = np.where(u < p_default, 2, np.where(u < p_default + p_late, 1, 0))
        due = start_day + self.state.due_day[person] - 1
        late_days = np.minimum(1 + rng.geometric(0.12, m), 120)
        paid = np.where(status == 0, due - rng.integers(0, 6, m), due + late_days)
        occurred_day = np.where(status == 2, due + 90, paid)
        occurred = occurred_day * US_PER_DAY + rng.integers(0, US_PER_DAY, m)
        paid_dates = _dates(paid)
        paid_dates = pc.if_else(pa.array(status == 2), pa.nulls(m, pa.date32()), paid_dates)
        return [
            _Block(
                kind,
                source,
                kind.split("_")[0],
                person,
                occurred,
                {
                    "amount": _amount(amount[person]),
                    "currency": "CNY",
                    "due_date": _dates(due),
                    "paid_date": paid_dates,
                    "status": _choice(("on_time", "late", "defaulted"), status),
                    "partner": source,
                    "_defaulted": status == 2,
                },
            )
        ]

    def _judgments(self, defaulted: IntArray, defaulted_us: IntArray) -> list[_Block]:
        """About a third of loan defaults end in court; some judgments are later satisfied."""
        rng = self.rng
        sue = rng.random(len(defaulted)) < 0.35
        sued = defaulted[sue]
        m = len(sued)
        if m == 0:
            return []
        entered = defaulted_us[sue] + rng.integers(30, 90, m) * US_PER_DAY
        case = pc.binary_join_element_wise(
            pa.scalar("CASE-"), pc.cast(pa.array(self._next_ids(m)), pa.string()), ""
        )
        amount = _amount(self.state.instalment[sued] * rng.uniform(3, 12, m))
        blocks = [
            _Block(
                "court_judgment",
                "courts-sim",
                "judgment-entered",
                sued,
                entered,
                {
                    "case_number": case,
                    "court": "People's Court (simulated)",
                    "status": "entered",
                    "amount": amount,
                    "currency": "CNY",
                },
            )
        ]
        satisfied = rng.random(m) < 0.3
        blocks.append(
            _Block(
                "court_judgment",
                "courts-sim",
                "judgment-satisfied",
                sued[satisfied],
                entered[satisfied] + rng.integers(60, 300, int(satisfied.sum())) * US_PER_DAY,
                {
                    "case_number": case.filter(pa.array(satisfied)),
                    "court": "People's Court (simulated)",
                    "status": "satisfied",
                    "amount": amount.filter(pa.array(satisfied)),
                    "currency": "CNY",
                },
            )
        )
        return blocks

    def _rentals(self, z: FloatArray, start_us: int, span_us: int) -> list[_Block]:
        rng, pop = self.rng, self.pop
        n = pop.size
        wealth = (pop.income / MEDIAN_INCOME) ** 0.5
        rates = {
            "bike": np.where(pop.commuter, 2.0, 0.2),
            "umbrella": np.full(n, 0.2),
            "power_bank": np.full(n, 0.3),
            "car": 0.03 * wealth,
            "hotel_room": 0.08 * wealth,
        }
        blocks = []
        for item, rate in rates.items():
            partner, low, high = RENTALS[item]
            person = np.repeat(np.arange(n), rng.poisson(rate))
            m = len(person)
            risk = z[person]
            u = rng.random(m)
            p_unpaid = _sigmoid(-6.0 + 1.6 * risk)
            p_damaged = np.full(m, 0.01)
            p_late = _sigmoid(-3.2 + 0.9 * risk)
            outcome = np.where(
                u < p_unpaid,
                3,
                np.where(
                    u < p_unpaid + p_damaged, 2, np.where(u < p_unpaid + p_damaged + p_late, 1, 0)
                ),
            )
            blocks.append(
                _Block(
                    "rental",
                    partner,
                    item,
                    person,
                    start_us + rng.integers(0, span_us, m),
                    {
                        "partner": partner,
                        "item": item,
                        "deposit": _choice(
                            ("waived", "paid"), (rng.random(m) < 0.7).astype(np.int64)
                        ),
                        "outcome": _choice(("returned", "late", "damaged", "unpaid"), outcome),
                        "amount": _amount(rng.uniform(low, high, m)),
                        "currency": "CNY",
                    },
                )
            )
        return blocks

    def _fines(self, z: FloatArray, start_us: int, span_us: int) -> list[_Block]:
        rng = self.rng
        n = self.pop.size
        fined = np.flatnonzero(rng.random(n) < 0.015 + 0.02 * _sigmoid(z))
        m = len(fined)
        issued = start_us + rng.integers(0, span_us, m)
        amount = _amount(rng.choice([50, 100, 200, 500], m).astype(np.float64))
        case = pc.binary_join_element_wise(
            pa.scalar("FINE-"), pc.cast(pa.array(self._next_ids(m)), pa.string()), ""
        )
        paid = rng.random(m) < _sigmoid(1.5 - 1.2 * z[fined])
        return [
            _Block(
                "fine",
                "police-sim",
                "fine-issued",
                fined,
                issued,
                {"amount": amount, "currency": "CNY", "status": "issued", "case_number": case},
            ),
            _Block(
                "fine",
                "police-sim",
                "fine-paid",
                fined[paid],
                issued[paid] + rng.integers(0, 60 * US_PER_DAY, int(paid.sum())),
                {
                    "amount": amount.filter(pa.array(paid)),
                    "currency": "CNY",
                    "status": "paid",
                    "case_number": case.filter(pa.array(paid)),
                },
            ),
        ]

    def _donations(self, start_us: int, span_us: int) -> list[_Block]:
        rng, pop = self.rng, self.pop
        donors = np.flatnonzero(rng.random(pop.size) < 0.04 * (pop.income / MEDIAN_INCOME) ** 0.5)
        m = len(donors)
        return [
            _Block(
                "donation",
                "charity-sim",
                "donation",
                donors,
                start_us + rng.integers(0, span_us, m),
                {"amount": _amount(rng.uniform(10, 500, m)), "currency": "CNY"},
            )
        ]

    def _attributes(self, start_us: int, span_us: int) -> list[_Block]:
        rng, pop = self.rng, self.pop
        n = pop.size
        everyone = np.arange(n)
        employed = np.flatnonzero(pop.employed)
        employer = pc.binary_join_element_wise(
            pa.scalar("Employer "),
            pc.utf8_lpad(
                pc.cast(pa.array(pop.employer[employed]), pa.string()), width=5, padding="0"
            ),
            " Ltd",
            "",
        )
        return [
            _Block(
                "attribute",
                "registry-sim",
                "education",
                everyone,
                start_us + rng.integers(0, span_us, n),
                {"attribute": "education", "value": _choice(EDUCATION_LEVELS, pop.education)},
            ),
            _Block(
                "attribute",
                "registry-sim",
                "vehicle",
                everyone,
                start_us + rng.integers(0, span_us, n),
                {"attribute": "vehicle", "value": _choice(VEHICLE_STATUSES, pop.vehicle)},
            ),
            _Block(
                "attribute",
                "registry-sim",
                "employer",
                employed,
                start_us + rng.integers(0, span_us, len(employed)),
                {"attribute": "employer", "value": employer},
            ),
        ]

    def _friends_added(self, start_us: int, span_us: int) -> list[_Block]:
        """Friendships form between people of similar reliability (homophily)."""
        rng, pop = self.rng, self.pop
        order = np.argsort(pop.reliability + 0.7 * rng.standard_normal(pop.size))
        left, right = [], []
        for offset in (1, 2, 3):
            keep = rng.random(pop.size - offset) < 0.5
            left.append(order[:-offset][keep])
            right.append(order[offset:][keep])
        a, b = np.concatenate(left), np.concatenate(right)
        self.state.friend_pairs = (a, b)
        return [self._friend_block(a, b, "added", "friend-add", start_us, span_us)]

    def _friends_removed(self, start_us: int, span_us: int) -> list[_Block]:
        a, b = self.state.friend_pairs
        gone = self.rng.random(len(a)) < 0.002
        return [self._friend_block(a[gone], b[gone], "removed", "friend-remove", start_us, span_us)]

    def _friend_block(
        self, a: IntArray, b: IntArray, action: str, tag: str, start_us: int, span_us: int
    ) -> _Block:
        return _Block(
            "friend_link",
            "social-sim",
            tag,
            a,
            start_us + self.rng.integers(0, span_us, len(a)),
            {"friend_id": self.pop.person_id.take(pa.array(b)), "action": action},
        )

    # -- assembly ----------------------------------------------------------------------
    def _next_ids(self, m: int) -> IntArray:
        ids = np.arange(self._counter, self._counter + m, dtype=np.int64)
        self._counter += m
        return ids

    def _assemble(self, blocks: list[_Block], label: str) -> pa.Table:
        tables = []
        for block in blocks:
            m = len(block.person)
            if m == 0:
                continue
            visible = block.occurred_us < self.end_us
            lag = (self.rng.exponential(0.5, m) * US_PER_DAY).astype(np.int64)
            recorded = np.minimum(block.occurred_us + lag, self.end_us - 1)
            event_id = pc.binary_join_element_wise(
                pa.scalar(f"{block.tag}-{label}-"),
                pc.cast(pa.array(self._next_ids(m)), pa.string()),
                "",
            )
            columns: dict[str, pa.Array] = {
                "source": pa.repeat(pa.scalar(block.source), m),
                "event_id": event_id,
                "person_id": self.pop.person_id.take(pa.array(block.person)),
                "kind": pa.repeat(pa.scalar(block.kind), m),
                "occurred_at": pa.array(block.occurred_us, pa.timestamp("us", tz="UTC")),
                "recorded_at": pa.array(recorded, pa.timestamp("us", tz="UTC")),
            }
            for name, value in block.columns.items():
                if name.startswith("_"):
                    continue
                target = EVENT_SCHEMA.field(name).type
                if isinstance(value, str):
                    columns[name] = pa.repeat(pa.scalar(value, target), m)
                else:
                    array = value if isinstance(value, pa.Array) else pa.array(value)
                    columns[name] = array.cast(target)
            table = pa.table(
                {f.name: columns.get(f.name, pa.nulls(m, f.type)) for f in EVENT_SCHEMA},
                schema=EVENT_SCHEMA,
            )
            tables.append(table.filter(pa.array(visible)))
        return pa.concat_tables(tables) if tables else EVENT_SCHEMA.empty_table()


def months_between(first: np.datetime64, count: int) -> Iterator[np.datetime64]:
    for i in range(count):
        yield first + i
