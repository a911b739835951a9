"""A partner's privilege check (kaimen.sharing.privilege_checks) on SQLite and PostgreSQL:
the answer alone, under the person's `decision` consent; an unknown person, no consent and a
frozen file answered alike and seen by the person; limited per key and per person."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Engine

from kaimen.domain.callers import Caller
from kaimen.domain.errors import Forbidden, NotFound, RateLimited
from kaimen.sharing import consenting, freezing, partnering, privilege_checks
from kaimen.sharing.deciding import PersonNotFound
from kaimen.sharing.rate_limits import LimitSettings, PartnerLimits
from kaimen.store import access_log, alerts
from tests.points.test_ledger import ADMIN, Points, make_points

PARTNER = "bikes"
PRIVILEGE = "rental_deposit_halved"
AT = dt.datetime(2026, 1, 31, tzinfo=dt.UTC)
ASKER = Caller.partner(PARTNER, "k1", ("points",))


@pytest.fixture
def points(engine: Engine, tmp_path: Path) -> Points:
    made = make_points(engine, tmp_path)
    made.award("2026-01")
    partnering.add_partner(engine, PARTNER, "Bikes Ltd", "admin")
    return made


def _consent(engine: Engine, person: str) -> None:
    request = consenting.ConsentRequest(PARTNER, "decision")
    consenting.grant_consent(engine, person, request, f"person:{person}", AT)


def _check(points: Points, person: str, caller: Caller = ASKER, **kw: object) -> object:
    return privilege_checks.check_privilege(
        points.engine,
        points.profile,
        caller,
        person,
        PRIVILEGE,
        AT,
        **kw,  # type: ignore[arg-type]
    )


def _log(engine: Engine, person: str) -> list[access_log.Access]:
    with engine.connect() as store:
        return access_log.of_person(store, person)


def test_with_consent_the_partner_learns_only_whether_it_applies(points: Points) -> None:
    _consent(points.engine, "ann")
    answer = privilege_checks.check_privilege(
        points.engine, points.profile, ASKER, "ann", PRIVILEGE, AT
    )
    assert answer.applies and answer.context == "renting"
    [entry] = _log(points.engine, "ann")
    assert (entry.actor, entry.what, entry.flag) == ("partner:bikes", "privilege", None)
    assert entry.disclosed == {"privilege": PRIVILEGE, "applies": True}
    with pytest.raises(Forbidden):
        _check(points, "ann", Caller.partner(PARTNER, "k1", ("reports",)))
    with pytest.raises(NotFound, match="no privilege 'nosuch'"):
        privilege_checks.check_privilege(points.engine, points.profile, ASKER, "ann", "nosuch", AT)
    # The admin may ask about anyone enrolled, without consent.
    assert (
        privilege_checks.check_privilege(
            points.engine, points.profile, ADMIN, "ben", PRIVILEGE, AT
        ).applies
        is False
    )


def test_no_consent_an_unknown_person_and_a_frozen_file_are_answered_alike(
    points: Points,
) -> None:
    """Before, all three were told apart (200, 200 with the answer, and 404 naming the
    person as not enrolled): a partner learnt who is enrolled and what a frozen file held."""
    _consent(points.engine, "cat")
    freezing.set_freeze(points.engine, "cat", True, "person:cat", AT)
    refusals = []
    for person in ("ben", "nobody", "cat"):
        with pytest.raises(PersonNotFound) as caught:
            _check(points, person)
        refusals.append(str(caught.value))
    assert len(set(refusals)) == 1
    [ben] = _log(points.engine, "ben")
    assert (ben.flag, ben.what) == ("refused: no consent", "privilege")
    [cat] = _log(points.engine, "cat")
    assert cat.flag == "refused: frozen"
    with points.engine.connect() as store:
        kinds = [a.kind for a in alerts.of_person(store, "cat")]
    assert alerts.AlertKind.FROZEN_ATTEMPT in kinds


def test_checks_are_limited_per_person_and_per_key(points: Points) -> None:
    _consent(points.engine, "ann")
    _consent(points.engine, "dan")
    limits = PartnerLimits(LimitSettings(per_person="2/minute", per_key="4/minute"))
    for _ in range(2):
        _check(points, "ann", limits=limits)
    with pytest.raises(RateLimited):
        _check(points, "ann", limits=limits)
    _check(points, "dan", limits=limits)
    with pytest.raises(RateLimited):  # the key's fourth
        _check(points, "dan", limits=limits)
