"""Attempts on a person's data that were refused but that the person sees in their access
log: a partner asking without consent (and, where another service refuses for its own reason,
that reason), and a partner stopped for probing. The asker is shown only the refusal it would
have had anyway (the same 404 as for an unknown person); the person sees who asked, when,
why, and that it was refused. A person who does not exist (or has left) gets no row, in the
same one statement, so the log cannot tell the asker which it was.

Every such row is built here (`refused_attempt`) and flagged "refused: <reason>"; decisions go
through the decision path's batch writes, everything else through `log_refused`.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Connection

from kaimen.domain.errors import KaimenError
from kaimen.store import access_log, alerts
from kaimen.store.access_log import Disclosure

NO_CONSENT = "no consent"
PROBING_LIMIT = "probing limit"
# A decision at another threshold than any this partner asked this person at lately.
PROBING = "probing"
_REFUSED = "refused: "


def refusal_flag(reason: str) -> str:
    """The access-log flag of an attempt refused for `reason` ("no consent", ...)."""
    return f"{_REFUSED}{reason}"


def refused_reason(flag: str | None) -> str | None:
    """The reason an access-log row was refused for, or None for a row that was answered."""
    if flag is None or not flag.startswith(_REFUSED):
        return None
    return flag.removeprefix(_REFUSED)


def refused_attempt(
    actor: str, purpose: str, what: str, reason: str, refusal: KaimenError
) -> Disclosure:
    """The access-log row of an attempt refused for `reason`, showing what the asker was
    told (the refusal's status and public detail, nothing of the person)."""
    return Disclosure(
        actor,
        purpose,
        what,
        {"status": refusal.status, "detail": refusal.detail},
        refusal_flag(reason),
    )


def log_refused(
    connection: Connection, person_id: str, attempt: Disclosure, now: dt.datetime
) -> None:
    """Log a refused attempt (`refused_attempt`) in the person's access log, if there is
    such an active person; in the caller's transaction, which must commit it even though
    the request is refused."""
    access_log.record_if_known(connection, person_id, attempt, now)


def log_no_consent(
    connection: Connection,
    person_id: str,
    partner_id: str,
    actor: str,
    purpose: str,
    what: str,
    refusal: KaimenError,
    now: dt.datetime,
) -> None:
    """Log an attempt refused as having no consent, in the caller's transaction (which must
    commit it though the request is refused): on a frozen file as an attempt on it, with its
    alert; otherwise as no consent. Only for an active person (`log_refused`)."""
    frozen = alerts.FrozenAttempt(
        person_id, actor, partner_id, purpose, what, str(uuid.uuid4()), now
    )
    alerts.record_frozen_attempts(connection, [frozen])
    log_refused(
        connection, person_id, refused_attempt(actor, purpose, what, NO_CONSENT, refusal), now
    )
