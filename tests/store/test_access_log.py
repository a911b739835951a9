"""The access log in the store: what a reader was shown is kept as it was shown."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine

from kaimen.domain.json_values import JsonObject
from kaimen.store import access_log
from kaimen.store.decision_path import Disclosure
from tests.store.score_rows import T0, enrol

SHOWN: JsonObject = {
    "decision_id": "d-1",
    "offer": "Carte « or » ✓",
    "approved": False,
    "reasons": ["2 late payments in the last 12 months"],
    "unmet": [],
    "score": None,
    "standing": {"status": "scored", "on_time_rate": 0.875, "nested": [[1, 2], {"a": True}]},
}


def test_what_was_disclosed_reads_back_as_it_was_logged(engine: Engine) -> None:
    enrol(engine, "P1", "P2")
    with engine.begin() as store:
        access_log.record(store, "P1", "partner:bank-a", "decision: a card", "decision", SHOWN, T0)
        access_log.record(store, "P2", "admin", "administration", "score", {"score": 610}, T0)
    with engine.connect() as store:
        [entry] = access_log.of_person(store, "P1")
    assert (entry.accessed_at, entry.actor, entry.purpose, entry.what) == (
        T0,
        "partner:bank-a",
        "decision: a card",
        "decision",
    )
    assert entry.disclosed == SHOWN


def test_a_persons_log_is_newest_first(engine: Engine) -> None:
    enrol(engine, "P1")
    with engine.begin() as store:
        for minutes, what in ((0, "score"), (10, "report"), (10, "whatif"), (5, "decision")):
            at = T0 + dt.timedelta(minutes=minutes)
            access_log.record(store, "P1", "admin", "administration", what, {"n": minutes}, at)
    with engine.connect() as store:
        log = access_log.of_person(store, "P1")
        assert access_log.of_person(store, "P2") == []
    # Two reads in the same moment: the later logged first.
    assert [a.what for a in log] == ["whatif", "report", "decision", "score"]


def test_an_attempt_is_logged_for_an_active_person_only(engine: Engine) -> None:
    """One statement either way: a row for a person who is there, none for one who is not."""
    enrol(engine, "P1")
    refused: JsonObject = {"status": 404, "detail": "no such person, or no consent"}
    flag = "refused: no consent"
    with engine.begin() as store:
        for person in ("P1", "P-nobody"):
            attempt = Disclosure("partner:bank-a", "decision: a card", "decision", refused, flag)
            access_log.record_if_known(store, person, attempt, T0)
    with engine.connect() as store:
        [entry] = access_log.of_person(store, "P1")
        assert access_log.of_person(store, "P-nobody") == []
    assert (entry.accessed_at, entry.what, entry.flag, entry.disclosed) == (
        T0,
        "decision",
        flag,
        refused,
    )
