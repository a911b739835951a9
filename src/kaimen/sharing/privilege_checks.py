"""A partner asks whether a grade's privilege applies to a person now
(`POST /v1/points/privileges/check`, scope `points`): under the rules of a decision, since the
answer opens or closes a door as a decision does.

The partner needs the person's live `decision` consent; without it, for someone unknown, and
for a frozen file, the answer is the same 404 (nothing tells them apart), and the person sees
the refused attempt in their access log (a frozen file's with its alert). Asking is limited
per key and per partner and person (`rate_limits`), counted whether or not the person
consented. The admin may ask about anyone enrolled. Each answer is in the person's access
log and the audit log: the answer alone, never the balance or the grade.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

from sqlalchemy import Connection, Engine

from kaimen.domain.callers import Caller
from kaimen.domain.errors import Forbidden
from kaimen.domain.json_values import JsonObject
from kaimen.domain.profiles import Profile
from kaimen.points import rulebooks, standing
from kaimen.points.standing import PrivilegeAnswer
from kaimen.sharing.attempts import log_no_consent
from kaimen.sharing.deciding import NOT_FOUND, PersonNotFound
from kaimen.sharing.rate_limits import PartnerLimits
from kaimen.store import access_log, audit, consents

SCOPE = "points"
# Whose consent it needs: the answer is a decision about the person.
CONSENT = "decision"
WHAT: Final = "privilege"


def check_privilege(
    engine: Engine,
    profile: Profile,
    caller: Caller,
    person_id: str,
    privilege_id: str,
    now: dt.datetime | None = None,
    limits: PartnerLimits | None = None,
) -> PrivilegeAnswer:
    """Whether the person's grade now opens (or closes) `privilege_id` (see the module
    docstring). Raises Forbidden (not a partner with the scope, nor the admin), NotFound
    (no such privilege in the rulebook in force), PersonNotFound (unknown person, no consent
    or a frozen file: the same), RateLimited."""
    if not (caller.kind == "admin" or (caller.kind == "partner" and SCOPE in caller.scopes)):
        raise Forbidden(f"a privilege is checked with a partner key of scope '{SCOPE}'")
    rulebooks.require_programme(profile)
    now = now or dt.datetime.now(dt.UTC)
    month = standing.month_of(profile, now)
    with engine.connect() as store:
        privilege = standing.privilege_in_force(store, profile, privilege_id)
    partner_id = caller.partner_id
    if partner_id is not None and limits is not None:
        limits.check_request(caller.key_id, partner_id, person_id, WHAT)

    def work(store: Connection) -> PrivilegeAnswer | PersonNotFound:
        if partner_id is None:
            standing.require_active(store, person_id)
        elif consents.live(store, person_id, partner_id, CONSENT, now) is None:
            refusal = PersonNotFound(NOT_FOUND)
            log_no_consent(
                store, person_id, partner_id, caller.actor, standing.ACCESS_PURPOSE, WHAT,
                refusal, now,
            )  # fmt: skip
            return refusal
        answer = standing.privilege_answer(store, profile, person_id, privilege, month)
        disclosed: JsonObject = {"privilege": privilege.id, "applies": answer.applies}
        access_log.record(
            store, person_id, caller.actor, standing.ACCESS_PURPOSE, WHAT, disclosed, now
        )
        audit.append(
            store,
            caller.actor,
            standing.CHECKED,
            subject=person_id,
            details={"privilege": privilege.id, "applies": answer.applies},
            now=now,
        )
        return answer

    answered = audit.audited_transaction(engine, work)
    if isinstance(answered, PersonNotFound):
        raise answered
    return answered
