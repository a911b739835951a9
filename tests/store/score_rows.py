"""Rows the score, decision and access-log tests start from, put in through the store's own
functions where it has them: people, a partner with an offer, registered models, snapshots."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, insert

from kaimen.domain.reasons import Reason
from kaimen.domain.scores import Dimension
from kaimen.domain.snapshots import Snapshot
from kaimen.store import offers, partners, people
from kaimen.store.tables import models

T0 = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)
PARTNER = "bank-a"


def enrol(engine: Engine, *person_ids: str) -> None:
    with engine.begin() as store:
        people.insert_people(
            store,
            [
                people.NewPerson(
                    person_id=p,
                    birth_date=dt.date(1990, 3, 7),
                    national_id_hash=f"{p}-id".ljust(64, "0"),
                    national_id_encrypted=f"sealed id of {p}",
                    phone_hash=f"{p}-phone".ljust(64, "0"),
                    phone_encrypted=f"sealed phone of {p}",
                )
                for p in person_ids
            ],
            T0,
        )


def register_models(engine: Engine, *versions: str) -> None:
    """Registry rows only (the tests here never load an artifact)."""
    with engine.begin() as store:
        for version in versions:
            store.execute(
                insert(models).values(
                    version=version,
                    kind="scorecard",
                    path=f"{version}.json",
                    sha256="0" * 64,
                    trained_at=T0,
                    as_of="2026-10",
                    metrics="{}",
                    champion=0,
                )
            )


def partner_with_offer(engine: Engine) -> offers.Offer:
    with engine.begin() as store:
        partners.add(store, PARTNER, "Bank A", T0)
        return offers.publish(
            store, PARTNER, "Card", "a credit card", 600, T0, min_dimensions={"capacity": 55}
        )


def snapshot(
    person_id: str,
    month: str = "2026-10",
    model_version: str = "card-1",
    published_at: dt.datetime = T0,
    score: int = 587,
) -> Snapshot:
    """A scored snapshot: sub-scores, reasons (one without a value on record) and points."""
    return Snapshot(
        person_id=person_id,
        month=month,
        model_version=model_version,
        published_at=published_at,
        score=score,
        band="fair" if score < 600 else "good",
        thin_file=False,
        dimensions={
            Dimension.CREDIT_HISTORY: 61,
            Dimension.BEHAVIOUR: 48,
            Dimension.CAPACITY: 70,
            Dimension.IDENTITY: 100,
            Dimension.CONNECTIONS: 50,
        },
        reasons=(
            Reason("late_payments_12m", 31, 2.0),
            Reason("months_of_history", 7, None),
            Reason("on_time_rate_12m", 3, 0.875),
        ),
        points={"late_payments_12m": 12, "months_of_history": -4, "on_time_rate_12m": 40},
    )


def thin_snapshot(
    person_id: str, month: str = "2026-10", model_version: str = "card-1"
) -> Snapshot:
    return Snapshot(
        person_id, month, model_version, T0, None, None, True, dict.fromkeys(Dimension), (), {}
    )
