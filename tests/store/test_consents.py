"""Consents: at most one live per person, partner and purpose (the newest), live until revoked
or expired, checked at the moment of use and only for someone still enrolled."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import Engine

from kaimen.store import consents
from kaimen.store.consents import ConsentRejected, UnknownConsent
from tests.store.store_rows import T0, add_partners, enrol, mark_opted_out

HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


@pytest.fixture
def engine_with_people(engine: Engine) -> Engine:
    enrol(engine, "P1", "P2")
    add_partners(engine, "bank-a", "rent-co")
    return engine


def grant(
    engine: Engine, person: str, partner: str, purpose: str, now: dt.datetime, **options: Any
) -> consents.Consent:
    with engine.begin() as connection:
        return consents.grant(connection, person, partner, purpose, now, **options)


def live(engine: Engine, person: str, partner: str, purpose: str, at: dt.datetime) -> int | None:
    with engine.connect() as connection:
        found = consents.live(connection, person, partner, purpose, at)
    return None if found is None else found.consent_id


def test_a_grant_is_live_for_its_partner_and_purpose_only(engine_with_people: Engine) -> None:
    engine = engine_with_people
    granted = grant(engine, "P1", "bank-a", "decision", T0, share_score=True)
    assert (granted.person_id, granted.partner_id, granted.purpose) == ("P1", "bank-a", "decision")
    assert (granted.share_score, granted.granted_at, granted.expires_at) == (True, T0, None)
    assert granted.live_at(T0 + 1000 * DAY)
    assert live(engine, "P1", "bank-a", "decision", T0 + HOUR) == granted.consent_id
    assert live(engine, "P1", "bank-a", "report", T0 + HOUR) is None
    assert live(engine, "P1", "rent-co", "decision", T0 + HOUR) is None
    assert live(engine, "P2", "bank-a", "decision", T0 + HOUR) is None
    with engine.connect() as connection:
        [stored] = consents.of_person(connection, "P1")
    assert stored == granted


def test_granting_again_replaces_the_live_consent(engine_with_people: Engine) -> None:
    engine = engine_with_people
    first = grant(engine, "P1", "bank-a", "report", T0)
    other_purpose = grant(engine, "P1", "bank-a", "feedback", T0)
    second = grant(engine, "P1", "bank-a", "report", T0 + HOUR, expires_at=T0 + 30 * DAY)
    assert live(engine, "P1", "bank-a", "report", T0 + 2 * HOUR) == second.consent_id
    with engine.connect() as connection:
        history = consents.of_person(connection, "P1")
    assert [c.consent_id for c in history] == [
        first.consent_id,
        other_purpose.consent_id,
        second.consent_id,
    ]
    assert [c.revoked_at for c in history] == [T0 + HOUR, None, None]
    assert [c.live_at(T0 + 2 * HOUR) for c in history] == [False, True, True]


def test_a_consent_expires_at_its_time_and_a_new_grant_does_not_revive_it(
    engine_with_people: Engine,
) -> None:
    engine = engine_with_people
    ends = T0 + 7 * DAY
    granted = grant(engine, "P1", "bank-a", "decision", T0, expires_at=ends)
    assert live(engine, "P1", "bank-a", "decision", ends - dt.timedelta(seconds=1)) == (
        granted.consent_id
    )
    assert live(engine, "P1", "bank-a", "decision", ends) is None
    assert not granted.live_at(ends)
    # Granting after it expired leaves the expired one as it was (not revoked).
    grant(engine, "P1", "bank-a", "decision", ends + DAY)
    with engine.connect() as connection:
        expired = consents.of_person(connection, "P1")[0]
    assert expired.revoked_at is None


def test_an_expiry_in_another_zone_is_kept_in_utc(engine_with_people: Engine) -> None:
    beijing = dt.timezone(dt.timedelta(hours=8))
    ends = dt.datetime(2026, 4, 1, 8, 0, tzinfo=beijing)
    granted = grant(engine_with_people, "P1", "bank-a", "report", T0, expires_at=ends)
    with engine_with_people.connect() as connection:
        [stored] = consents.of_person(connection, "P1")
    assert granted.expires_at == stored.expires_at == dt.datetime(2026, 4, 1, 0, 0, tzinfo=dt.UTC)
    assert stored.expires_at is not None
    assert stored.expires_at.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize(
    ("person", "partner", "purpose", "options", "problem"),
    [
        ("P1", "bank-a", "marketing", {}, "purpose must be one of decision, report, feedback"),
        ("P1", "bank-a", "report", {"share_score": True}, "only be part of a decision"),
        ("P1", "bank-a", "report", {"expires_at": dt.datetime(2026, 5, 1)}, "time zone"),
        ("P1", "bank-a", "report", {"expires_at": T0}, "in the future"),
        ("P1", "bank-a", "report", {"expires_at": T0 + 3654 * DAY}, "within ten years"),
        ("P3", "bank-a", "report", {}, "P3 is not an enrolled person"),
        ("P2", "bank-a", "report", {}, "P2 is not an enrolled person"),  # opted out
        ("P1", "nobody", "report", {}, "no partner nobody"),
    ],
)
def test_a_consent_that_cannot_be_granted_is_refused_and_nothing_changes(
    engine_with_people: Engine,
    person: str,
    partner: str,
    purpose: str,
    options: dict[str, object],
    problem: str,
) -> None:
    engine = engine_with_people
    mark_opted_out(engine, "P2")
    before = grant(engine, "P1", "bank-a", "report", T0 - DAY)
    with pytest.raises(ConsentRejected, match=problem):
        grant(engine, person, partner, purpose, T0, **options)
    with engine.connect() as connection:
        assert consents.of_person(connection, "P1") == [before]
        assert consents.of_person(connection, person) in ([before], [])


def test_revoking_ends_a_consent_for_the_next_use(engine_with_people: Engine) -> None:
    engine = engine_with_people
    granted = grant(engine, "P1", "bank-a", "decision", T0)
    with engine.begin() as connection:
        revoked = consents.revoke(connection, "P1", granted.consent_id, T0 + HOUR)
    assert revoked == consents.Consent(**{**granted.__dict__, "revoked_at": T0 + HOUR})
    assert live(engine, "P1", "bank-a", "decision", T0 + 2 * HOUR) is None
    with engine.connect() as connection:
        assert consents.of_person(connection, "P1") == [revoked]


def test_only_the_owner_revokes_and_only_once(engine_with_people: Engine) -> None:
    engine = engine_with_people
    granted = grant(engine, "P1", "bank-a", "decision", T0)
    with pytest.raises(UnknownConsent), engine.begin() as connection:
        consents.revoke(connection, "P2", granted.consent_id, T0 + HOUR)
    with pytest.raises(UnknownConsent), engine.begin() as connection:
        consents.revoke(connection, "P1", granted.consent_id + 100, T0 + HOUR)
    assert live(engine, "P1", "bank-a", "decision", T0 + 2 * HOUR) == granted.consent_id
    with engine.begin() as connection:
        consents.revoke(connection, "P1", granted.consent_id, T0 + HOUR)
    with pytest.raises(ConsentRejected, match="already revoked"), engine.begin() as connection:
        consents.revoke(connection, "P1", granted.consent_id, T0 + 2 * HOUR)


def test_no_consent_is_live_for_someone_who_left(engine_with_people: Engine) -> None:
    engine = engine_with_people
    grant(engine, "P2", "bank-a", "decision", T0)
    mark_opted_out(engine, "P2")
    assert live(engine, "P2", "bank-a", "decision", T0 + HOUR) is None
