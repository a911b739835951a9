"""What the person's pages say for what the services say in English: reasons, what moved a
month, characteristics and the card's bins, enrolment refusals.

The English is the services' own, one definition each (a reason's sentence is the feature
catalogue's template, filled by `score_views.filled`); a page in English shows the services'
text as it is, and a page in another language translates the template or message as a whole,
with the catalogue's English as the key. The tuples below hold no meaning of their own: they
mark that English for `make messages`, and tests hold them equal to what the services define
and say, so a new or reworded reason cannot reach a page without its translation.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from kaimen.domain.reasons import COURT_LISTING
from kaimen.scoring.score_views import (
    NEW_MODEL,
    ExplainedReason,
    Mover,
    description_of,
    filled,
    on_record,
    reason_template,
)
from kaimen.web.words import N_

Translate = Callable[[str], str]


# The feature catalogue's reason templates and descriptions (kaimen.features.catalogue).
CATALOGUE_WORDS: tuple[str, ...] = (
    N_("{value} bills or instalments paid late in the last 12 months"),
    N_("Bills, rent, utilities and loan instalments paid late in the last 12 months."),
    N_("{value} defaults or payments 90+ days late in the last 24 months"),
    N_("Defaults and payments 90 or more days late in the last 24 months."),
    N_("{value:.0%} of bills and instalments paid on time in the last 12 months"),
    N_("Share of repayments in the last 12 months that were on time (empty if none)."),
    N_("only {value} repayments on record in the last 12 months"),
    N_("Repayments of any kind recorded in the last 12 months: how deep the file is."),
    N_("only {value} months of history"),
    N_("Months with any recorded activity, all time."),
    N_("{value} court judgments not satisfied"),
    N_("Court judgments entered and not yet satisfied or overturned."),
    N_("{value} rentals returned late, damaged or unpaid in the last 12 months"),
    N_("Rentals returned late, damaged or left unpaid in the last 12 months."),
    N_("{value} fines not paid"),
    N_("Fines issued and not paid, all time."),
    N_("{value:.0%} of purchases on gaming or luxury in the last 6 months"),
    N_("Share of purchases in the last 6 months at gaming or luxury merchants."),
    N_("spending of {value:,.0f} a month over the last 6 months"),
    N_("Average monthly spending over the last 6 months."),
    N_("rent and utilities paid on time {value:.0%} of the time in the last 12 months"),
    N_("Share of rent and utility payments in the last 12 months that were on time."),
    N_("purchases in only {value} of the last 6 months"),
    N_("Months among the last 6 with at least one purchase: a sign of steady means."),
    N_("education level {value} of 6 on record"),
    N_("Latest verified education level, 0 (none) to 6 (doctorate)."),
    N_("no employer on record"),
    N_("1 if an employer has been verified, else 0."),
    N_("no vehicle on record"),
    N_("1 if the latest verified vehicle record shows one owned, financed or leased."),
    N_("{value} friends on the platform"),
    N_("Friend links added minus removed (kept out of the model until influence is bounded)."),
)

# What enrolment (`kaimen.enrolment.enrol_one`) refuses with, as the API says it.
ENROLMENT_MESSAGES: tuple[str, ...] = (
    N_("national ID must be 18 ASCII characters: 17 digits then a digit or X"),
    N_("national ID the first two digits are not a province-level region code"),
    N_("national ID digits 7-14 are not a real birth date between 1900 and today"),
    N_("national ID the last character does not match the ISO 7064 MOD 11-2 check"),
    N_(
        "phone must be an international number (+ and 8-15 digits) "
        "or an 11-digit mainland mobile number"
    ),
    N_("a +86 phone must be an 11-digit mobile number starting 13-19"),
    N_("already enrolled"),
    N_("this national ID is already enrolled"),
    N_("already enrolled for another person"),
)


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def described(feature: str, translate: Translate) -> str:
    """What a characteristic measures, without the full stop, in the page's language."""
    return translate(description_of(feature)).rstrip(".。")


def reason_sentence(reason: ExplainedReason, translate: Translate, english: bool) -> str:
    """A reason as the page says it: the service's own text in English; else the same
    sentence made from its translated template and the person's value."""
    if english or reason.detail is not None:
        # A court listing's detail names the case in the court's own words.
        return reason.text
    if reason.value is None or not on_record(reason.value):
        what = _lower_first(translate(description_of(reason.feature)))
        return translate(N_("nothing on record for: %(what)s")) % {"what": what}
    return filled(translate(reason_template(reason.feature)), reason.value)


def mover_sentence(mover: Mover, said: str, translate: Translate, english: bool) -> str:
    """What moved a month (`said`: the service's English for it)."""
    if english:
        return said
    sign = "+" if mover.points > 0 else ""
    points = f"{sign}{mover.points}"
    if mover.what == NEW_MODEL and mover.models is not None:
        return translate(N_("the model changed from %(old)s to %(new)s")) % {
            "old": mover.models[0],
            "new": mover.models[1],
        }
    if mover.what == COURT_LISTING:
        return translate(N_("court listing deduction: %(points)s points")) % {"points": points}
    return translate(N_("%(what)s: %(points)s points")) % {
        "what": described(mover.what, translate),
        "points": points,
    }


# The card's bin labels (kaimen.model.binning): "0", "1-2", "3 or more", "0.037 or less",
# "more than 0.037 up to 0.0667", "more than 0.167"; and "missing".
_LABELS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^(?P<low>\S+) or more$"), N_("%(low)s or more")),
    (re.compile(r"^(?P<high>\S+) or less$"), N_("%(high)s or less")),
    (
        re.compile(r"^more than (?P<low>\S+) up to (?P<high>\S+)$"),
        N_("more than %(low)s up to %(high)s"),
    ),
    (re.compile(r"^more than (?P<low>\S+)$"), N_("more than %(low)s")),
    (re.compile(r"^missing$"), N_("nothing on record")),
)


def bin_label(label: str, translate: Translate) -> str:
    """A bin's label in the page's language (numbers are left as the card writes them)."""
    for pattern, words in _LABELS:
        found = pattern.match(label)
        if found:
            return translate(words) % found.groupdict()
    return label


def enrolment_message(message: str, translate: Translate) -> str:
    """An enrolment refusal's message in the page's language."""
    return translate(message)
