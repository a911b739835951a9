"""Partners and keys as services: every change audited, refusals typed."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from kaimen.sharing import partnering
from kaimen.sharing.authentication import identify
from kaimen.store import audit
from kaimen.store.partners import (
    KeyAlreadyRevoked,
    PartnerExists,
    PartnerRejected,
    UnknownKey,
    UnknownPartner,
)
from kaimen.store.tables import audit_log

ADMIN_TOKEN = "a-long-enough-admin-token"


def _actions(engine: Engine) -> list[tuple[str, str, str | None]]:
    with engine.connect() as store:
        rows = store.execute(audit_log.select().order_by(audit_log.c.seq))
        return [(r.actor, r.action, r.subject) for r in rows]


def test_a_partner_is_added_once_and_audited(engine: Engine) -> None:
    partner = partnering.add_partner(engine, "car-rental", "  Car Rental Ltd ", "admin")
    assert (partner.partner_id, partner.name) == ("car-rental", "Car Rental Ltd")
    with pytest.raises(PartnerExists, match="already exists") as refused:
        partnering.add_partner(engine, "car-rental", "Another", "admin")
    assert refused.value.status == 409
    with pytest.raises(PartnerRejected) as bad:
        partnering.add_partner(engine, "Car_Rental", "Bad id", "admin")
    assert bad.value.status == 422
    assert _actions(engine) == [("admin", "partner.added", "car-rental")]
    assert audit.verify(engine) == 1


def test_keys_are_issued_listed_and_revoked_with_effect(engine: Engine) -> None:
    partnering.add_partner(engine, "bank", "Bank", "cli")
    issued = partnering.issue_key(engine, "bank", ["reports", "decisions", "reports"], "cli")
    assert issued.key.scopes == ("decisions", "reports")
    assert issued.secret.startswith(f"kmk_{issued.key.key_id}_")
    caller = identify(engine, ADMIN_TOKEN, issued.secret)
    assert caller is not None and caller.kind == "partner"
    assert (caller.partner_id, caller.scopes) == ("bank", ("decisions", "reports"))
    [listed] = partnering.list_partners(engine)
    assert listed.partner.partner_id == "bank" and [k.key_id for k in listed.keys] == [
        issued.key.key_id
    ]
    assert partnering.keys_of(engine, "bank")[0].revoked_at is None

    revoked = partnering.revoke_key(engine, issued.key.key_id, "cli")
    assert revoked.revoked_at is not None
    assert identify(engine, ADMIN_TOKEN, issued.secret) is None
    with pytest.raises(KeyAlreadyRevoked) as twice:
        partnering.revoke_key(engine, issued.key.key_id, "cli")
    assert twice.value.status == 409
    assert [a[1] for a in _actions(engine)] == [
        "partner.added",
        "partner.key_issued",
        "partner.key_revoked",
    ]


def test_unknown_partners_and_keys_are_not_found(engine: Engine) -> None:
    with pytest.raises(UnknownPartner) as no_partner:
        partnering.issue_key(engine, "nobody", ["reports"], "cli")
    assert no_partner.value.status == 404
    with pytest.raises(UnknownPartner):
        partnering.keys_of(engine, "nobody")
    with pytest.raises(UnknownKey):
        partnering.revoke_key(engine, "0123456789abcdef", "cli")
    partnering.add_partner(engine, "bank", "Bank", "cli")
    with pytest.raises(PartnerRejected, match="unknown scope"):
        partnering.issue_key(engine, "bank", ["everything"], "cli")
    # Refusals store nothing, not even an audit row.
    assert [a[1] for a in _actions(engine)] == ["partner.added"]


def test_identify_tells_the_admin_partners_people_and_nobody_apart(engine: Engine) -> None:
    admin = identify(engine, ADMIN_TOKEN, ADMIN_TOKEN)
    assert admin is not None and admin.kind == "admin" and admin.actor == "admin"
    assert identify(engine, ADMIN_TOKEN, "kmk_0123456789abcdef_" + "x" * 43) is None
    assert identify(engine, ADMIN_TOKEN, "not-a-token") is None
