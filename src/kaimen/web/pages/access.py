"""What every page handler shares: the signed-in caller (from the store's session), CSRF on
forms, safe redirects, and the role a page requires."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from starlette.responses import RedirectResponse

from kaimen.domain.callers import Caller, CallerKind
from kaimen.domain.errors import Forbidden, Rejected
from kaimen.web.callers import caller_of
from kaimen.web.sessions import CSRF_FIELD, CSRF_HEADER, Session

# Where each kind of caller lands after signing in.
LANDING: dict[CallerKind, str] = {"person": "/me", "partner": "/partner", "admin": "/admin"}


class CsrfRefused(Forbidden):
    """A form posted without this session's CSRF token, or from another origin."""


class AmbiguousForm(Rejected):
    """A form that sent a field more than once (see `checked_session`)."""


class NotSignedIn(Exception):
    """A page for a signed-in caller of some kind, asked for by someone else: the site's
    handler sends the browser to the sign-in page."""


class WrongRole(Forbidden):
    """A page for another kind of caller (a partner's console asked for by a person)."""


# The forms' fields that are lists: a key's scopes (checkboxes), a dispute's evidence files.
LIST_FIELDS = frozenset({"scopes", "evidence"})


async def checked_session(request: Request) -> Session:
    """The session of a POST whose CSRF token is the session's own (and whose Origin, when
    the browser sends one, is ours); `CsrfRefused` otherwise."""
    session: Session = request.state.session
    form = await request.form()
    # A field sent twice is refused, as a JSON key sent twice is: which one a reader takes
    # differs (a consent was granted to the second of two partners named; a wrong CSRF token
    # passed beside a right one). Only the fields that are lists may repeat.
    names = [name for name, _ in form.multi_items()]
    repeated = {name for name in names if names.count(name) > 1} - LIST_FIELDS
    if repeated:
        raise AmbiguousForm(f"the form sent {sorted(repeated)[0][:40]!r} more than once")
    presented = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    if not isinstance(presented, str) or not session.accepts(presented):
        raise CsrfRefused("this form has expired or did not come from this site; try again")
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
        raise CsrfRefused("this form did not come from this site")
    return session


Checked = Annotated[Session, Depends(checked_session)]


def _requiring(kind: CallerKind) -> Callable[[Request], Caller]:
    def required(request: Request) -> Caller:
        caller = caller_of(request)
        if caller is None:
            raise NotSignedIn(request.url.path)
        if caller.kind != kind:
            raise WrongRole(f"this page is for a {kind}'s sign-in")
        return caller

    return required


PersonCaller = Annotated[Caller, Depends(_requiring("person"))]
PartnerCaller = Annotated[Caller, Depends(_requiring("partner"))]
AdminCaller = Annotated[Caller, Depends(_requiring("admin"))]


def own_person_id(caller: Caller) -> str:
    """The signed-in person's id (a `PersonCaller` always has one)."""
    assert caller.person_id is not None
    return caller.person_id


def local_path(target: str | None, fallback: str = "/") -> str:
    """`target` when it is a path on this site, else `fallback`: a form's `next` must never
    send the browser elsewhere."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target:
        return fallback
    return target


def see_other(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)
