"""Consents and offers as services: typed requests, audited changes, typed refusals."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine

from kaimen.domain.national_id import check_character
from kaimen.enrolment import enrol_one
from kaimen.sharing import consenting, disclosures, offering, partnering
from kaimen.sharing.authentication import identify, issue_person_token
from kaimen.sharing.own_data import NotEnrolled
from kaimen.store import audit
from kaimen.store.consents import ConsentAlreadyRevoked, ConsentRejected, UnknownConsent
from kaimen.store.identity_vault import IdentityVault
from kaimen.store.offers import OfferAlreadyWithdrawn, OfferRejected, UnknownOffer

NOW = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)


def _person(engine: Engine, vault: IdentityVault) -> str:
    body = "11010119850615" + "042"
    return enrol_one(engine, vault, "13800138000", body + check_character(body), "cli")


def test_a_consent_is_granted_replaced_listed_and_revoked(
    engine: Engine, vault: IdentityVault
) -> None:
    person = _person(engine, vault)
    partnering.add_partner(engine, "bank", "Bank", "admin")
    actor = f"person:{person}"
    first = consenting.grant_consent(
        engine, person, consenting.ConsentRequest("bank", "decision"), actor, NOW
    )
    second = consenting.grant_consent(
        engine,
        person,
        consenting.ConsentRequest("bank", "decision", NOW + dt.timedelta(days=30), True),
        actor,
        NOW + dt.timedelta(minutes=1),
    )
    listed = {c.consent_id: c for c in consenting.consents_of(engine, person)}
    assert set(listed) == {first.consent_id, second.consent_id}
    later = NOW + dt.timedelta(minutes=2)
    # The newer grant replaced the older one: only it is live.
    assert [c.consent_id for c in listed.values() if c.live_at(later)] == [second.consent_id]
    assert listed[second.consent_id].share_score is True

    revoked = consenting.revoke_consent(engine, person, second.consent_id, actor, later)
    assert revoked.revoked_at == later and not revoked.live_at(later)
    with pytest.raises(ConsentAlreadyRevoked) as twice:
        consenting.revoke_consent(engine, person, second.consent_id, actor, later)
    assert twice.value.status == 409
    with pytest.raises(UnknownConsent) as unknown:
        consenting.revoke_consent(engine, "someone-else", first.consent_id, actor, later)
    assert unknown.value.status == 404
    with pytest.raises(ConsentRejected, match="purpose"):
        consenting.grant_consent(
            engine, person, consenting.ConsentRequest("bank", "marketing"), actor, later
        )
    assert audit.verify(engine) == 5  # enrolment, partner, two grants, one revocation


def test_offers_are_published_listed_and_withdrawn_by_their_partner_only(
    engine: Engine,
) -> None:
    partnering.add_partner(engine, "bank", "Bank", "admin")
    terms = offering.OfferTerms("Card", "a credit card", 650, "good", {"behaviour": 40})
    offer = offering.publish_offer(engine, "bank", terms, "partner:bank", NOW)
    assert (offer.min_score, offer.min_band, offer.min_dimensions) == (
        650,
        "good",
        {"behaviour": 40},
    )
    assert [o.offer_id for o in offering.offers_of(engine, "bank")] == [offer.offer_id]
    assert offering.offers_of(engine, "other") == []
    with pytest.raises(UnknownOffer):
        offering.withdraw_offer(engine, "other", offer.offer_id, "partner:other")
    withdrawn = offering.withdraw_offer(engine, "bank", offer.offer_id, "partner:bank", NOW)
    assert withdrawn.withdrawn_at == NOW
    with pytest.raises(OfferAlreadyWithdrawn):
        offering.withdraw_offer(engine, "bank", offer.offer_id, "partner:bank")
    with pytest.raises(OfferRejected, match="min_score"):
        offering.publish_offer(
            engine, "bank", offering.OfferTerms("Card", "card", 1200), "partner:bank"
        )


def test_a_person_token_identifies_the_person_and_nobody_else(
    engine: Engine, vault: IdentityVault
) -> None:
    person = _person(engine, vault)
    token = issue_person_token(engine, person)
    caller = identify(engine, "a-long-enough-admin-token", token)
    assert caller is not None and (caller.kind, caller.person_id) == ("person", person)
    assert caller.reads_person(person) and not caller.reads_person("someone-else")
    with pytest.raises(NotEnrolled):
        issue_person_token(engine, "nobody")
    # Nobody has read this person's data yet, and no partner decided about them.
    assert disclosures.access_log_of(engine, person) == []
    assert disclosures.decisions_about(engine, person) == []
