"""The languages pages are written in: English and Simplified Chinese, from gettext
catalogues (`locales/*/LC_MESSAGES/messages.po`, compiled in memory when first needed, so
the `.po` file is the one source and nothing compiled is kept in the repository)."""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from importlib import resources

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

COOKIE = "kaimen_lang"
DOMAIN = "messages"


@dataclass(frozen=True)
class Language:
    code: str  # BCP 47, as in <html lang>, the cookie and the switch
    catalogue: str | None  # the folder under locales/, None for the source language
    locale: Locale
    name: str  # in its own words, as the switch shows it


LANGUAGES: tuple[Language, ...] = (
    Language("en", None, Locale("en"), "English"),
    Language("zh-Hans", "zh_Hans", Locale.parse("zh_Hans_CN"), "中文"),
)
DEFAULT = LANGUAGES[0]
_BY_CODE = {language.code: language for language in LANGUAGES}


def by_code(code: str | None) -> Language | None:
    return _BY_CODE.get(code or "")


def _ranked(accept_language: str) -> list[str]:
    """The header's language ranges, most wanted first (q=0 dropped)."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if tag and quality > 0:
            ranked.append((-quality, index, tag.strip().lower()))
    return [tag for _, _, tag in sorted(ranked)]


def from_accept_language(header: str | None) -> Language:
    """The first language the browser asks for that we have; English otherwise. Any
    Chinese is answered in Simplified Chinese, the only Chinese written here."""
    for tag in _ranked(header or ""):
        primary = tag.split("-")[0]
        if primary == "zh":
            return _BY_CODE["zh-Hans"]
        if primary == "en":
            return DEFAULT
    return DEFAULT


def chosen(cookie: str | None, accept_language: str | None) -> Language:
    """The language switch's cookie when set, else the browser's preference."""
    return by_code(cookie) or from_accept_language(accept_language)


@functools.cache
def translations(language: Language) -> NullTranslations:
    """The language's catalogue, compiled once per process."""
    if language.catalogue is None:
        return NullTranslations()
    source = resources.files("kaimen.web").joinpath(
        "locales", language.catalogue, "LC_MESSAGES", f"{DOMAIN}.po"
    )
    with source.open("rb") as handle:
        catalogue = read_po(handle, locale=language.catalogue)
    compiled = io.BytesIO()
    write_mo(compiled, catalogue)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)
