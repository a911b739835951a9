"""Templates, rendered in the request's language: one Jinja environment per language, each
with its catalogue installed, built once per process."""

from __future__ import annotations

import datetime as dt
import functools
import json
from dataclasses import dataclass
from typing import Any

from babel.dates import format_date, format_datetime, format_skeleton
from babel.numbers import format_decimal
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from kaimen.web.callers import caller_of
from kaimen.web.languages import LANGUAGES, Language, translations
from kaimen.web.sessions import CSRF_FIELD, Session

# Pages that show a person's data must not be kept by a shared cache or the back button.
PRIVATE = {"Cache-Control": "no-store"}


@dataclass(frozen=True)
class Chrome:
    """What every page's frame needs: its language, the switch, the session's CSRF token."""

    language: Language
    languages: tuple[Language, ...]
    csrf: str
    csrf_field: str
    signed_in: bool
    role: str | None  # "person", "partner" or "admin" when signed in
    here: str  # this page's path and query, for the language switch to come back to


def _month_label(month: str, language: Language) -> str:
    """'2026-10' as the language writes a month: 'October 2026', '2026年10月'."""
    year, number = month.split("-")
    return format_skeleton("yMMMM", dt.date(int(year), int(number), 1), locale=language.locale)


def _when_label(at: dt.datetime, language: Language) -> str:
    """A moment as the language writes one, in UTC (as the store keeps it): '4 Dec 2026, 22:24 UTC'."""
    return (
        format_datetime(at.astimezone(dt.UTC), "medium", tzinfo=dt.UTC, locale=language.locale)
        + " UTC"
    )


@functools.cache
def environment(language: Language) -> Environment:
    env = Environment(
        loader=PackageLoader("kaimen.web", "templates"),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    env.filters["month"] = lambda month: _month_label(month, language)
    env.filters["number"] = lambda value: format_decimal(value, locale=language.locale)
    env.filters["when"] = lambda at: _when_label(at, language)
    env.filters["day"] = lambda day: format_date(day, "medium", locale=language.locale)
    env.filters["shown"] = shown_json
    return env


def shown_json(value: Any) -> str:
    """What was shown, as JSON a person reads: its characters as they are (Jinja's `tojson`
    wrote every non-ASCII one as an escape, so a court's name read \\u5317\\u4eac...), in
    text the page's autoescaping makes safe."""
    return json.dumps(value, ensure_ascii=False, default=str)


def chrome(request: Request) -> Chrome:
    session: Session = request.state.session
    caller = caller_of(request)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return Chrome(
        language=request.state.language,
        languages=LANGUAGES,
        csrf=session.csrf,
        csrf_field=CSRF_FIELD,
        signed_in=caller is not None,
        role=None if caller is None else caller.kind,
        here=here,
    )


def render(
    request: Request,
    template: str,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    frame = chrome(request)
    html = environment(frame.language).get_template(template).render(chrome=frame, **context)
    return HTMLResponse(html, status_code=status_code, headers={**PRIVATE, **(headers or {})})
