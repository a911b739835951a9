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

from sqlalchemy import Connection

from kaimen.domain.errors import KaimenError
from kaimen.store import access_log
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
