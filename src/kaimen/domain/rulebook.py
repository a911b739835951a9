"""A points programme's rulebook and the validator that refuses an unlawful one.

A rulebook (YAML) gives base points, rules, grades with cut-offs and the privileges each grade
opens. A rule declares what conduct it scores (`scores`, from a closed vocabulary) and the
event that evidences it (a kind from the event catalogue and a condition on its payload);
it awards points, at most `cap` per period, halving every so many months, until it expires.

The validator checks structure first and words second. Structure: the declared conduct is
one the law lets a programme score, the event kind is in the catalogue and evidences that
conduct, the condition names fields the kind has, a deduction expires, and every privilege
applies in a context the profile allows and where every rule's facts came from (a traffic
fine must not cost a school place). Words: a prohibited topic named anywhere in a rule
("spreading rumours", "donations to a church") is refused even under a lawful-looking
declaration. Every problem is reported at once, each naming its rule or privilege.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kaimen.domain.contexts import CONTEXTS, EVENT_CONTEXTS
from kaimen.domain.errors import Rejected
from kaimen.domain.events import EVENT_KINDS, FIELDS, FieldType
from kaimen.domain.profiles import Profile
from kaimen.domain.prohibited import PROHIBITED, TOPICS

IDENT = r"^[a-z][a-z0-9_]{0,63}$"
MAX_POINTS = 1000
MAX_RULEBOOK_BYTES = 256 * 1024

# Conduct a programme may score, each with the catalogue's kinds that evidence it. Conduct
# no kind evidences (caring for family, volunteering) cannot be scored from kaimen's data.
LAWFUL_CONDUCT: dict[str, tuple[str, ...]] = {
    "repaying_loans": ("loan_repayment", "bill_repayment", "court_judgment"),
    "paying_rent": ("rent_payment",),
    "paying_utilities": ("utility_payment", "bill_repayment"),
    "returning_rentals": ("rental",),
    "traffic_offences": ("fine",),
    "charitable_giving": ("donation",),
    "family_care": (),
    "volunteering": (),
    "corruption": (),
}

Reason = Literal[
    "unreadable",
    "invalid",
    "programme_off",
    "duplicate",
    "prohibited_criterion",
    "unknown_conduct",
    "unknown_kind",
    "unknown_field",
    "unevidenced_conduct",
    "never_expires",
    "cap_below_points",
    "unknown_grade",
    "unknown_context",
    "context_not_allowed",
    "cross_context",
    "grades",
]
RULEBOOK = "(rulebook)"  # the subject of a problem with the rulebook as a whole


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EventCondition(_Strict):
    """The event that evidences a rule: its kind, and values its payload fields must hold
    (one value or any of several), and optionally a least amount."""

    kind: str = Field(min_length=1, max_length=64)
    where: dict[str, str | tuple[str, ...]] = Field(default_factory=dict)
    min_amount: Decimal | None = Field(default=None, ge=0)


class Cap(_Strict):
    """At most `points` (a deduction: at most that many off) per calendar month or year."""

    points: int = Field(ge=1, le=100 * MAX_POINTS)
    per: Literal["month", "year"]


class Decay(_Strict):
    """An entry's points halve (toward zero) every `halves_every_months` months."""

    halves_every_months: int = Field(ge=1, le=120)


class Rule(_Strict):
    id: str = Field(pattern=IDENT)
    scores: str = Field(min_length=1, max_length=64, description="the conduct it scores")
    description: str = Field(min_length=1, max_length=300)
    event: EventCondition
    points: int = Field(ge=-MAX_POINTS, le=MAX_POINTS)
    cap: Cap | None = None
    decay: Decay | None = None
    expires_after_months: int | None = Field(default=None, ge=1, le=240)

    def words(self) -> str:
        values = [v for value in self.event.where.values() for v in _as_tuple(value)]
        return " ".join(
            [self.id.replace("_", " "), self.scores.replace("_", " "), self.description, *values]
        )


class Grade(_Strict):
    grade: str = Field(pattern=r"^[A-Z][A-Za-z0-9+-]{0,7}$")
    min_points: int | None = Field(
        default=None, description="the least balance for the grade; none for the lowest"
    )


class Privilege(_Strict):
    id: str = Field(pattern=IDENT)
    grade: str
    context: str = Field(description=f"where it applies, one of: {', '.join(CONTEXTS)}")
    effect: Literal["grants", "denies"]
    description: str = Field(min_length=1, max_length=300)

    def words(self) -> str:
        return f"{self.id.replace('_', ' ')} {self.description}"


class Rulebook(_Strict):
    name: str = Field(pattern=IDENT)
    title: str = Field(min_length=1, max_length=200)
    base: int = Field(ge=0, le=100 * MAX_POINTS)
    # Emptiness is the validator's to report: pydantic would report an empty list again
    # beside every error inside one of its items.
    rules: tuple[Rule, ...]
    grades: tuple[Grade, ...]
    privileges: tuple[Privilege, ...] = ()

    def rule(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)

    def grade_of(self, balance: int) -> str:
        """The highest grade whose cut-off the balance reaches (the lowest grade otherwise)."""
        for grade in self.grades:
            if grade.min_points is None or balance >= grade.min_points:
                return grade.grade
        return self.grades[-1].grade if self.grades else "-"

    def privileges_of(self, grade: str) -> tuple[Privilege, ...]:
        return tuple(p for p in self.privileges if p.grade == grade)


def _as_tuple(value: str | tuple[str, ...]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else value


@dataclass(frozen=True, order=True)
class Problem:
    """One reason a rulebook is refused: whom it is about (a rule id, a privilege id or the
    rulebook), a stable reason, the prohibited criterion where there is one, and a message."""

    subject: str
    reason: Reason
    message: str
    criterion: str | None = None

    def __str__(self) -> str:
        return f"{self.subject}: {self.message}"


class RulebookRefused(Rejected):
    """A rulebook that may not run: every problem, each naming its rule or privilege."""

    problem = "rulebook-refused"
    title = "Rulebook refused"

    def __init__(self, label: str, problems: list[Problem]) -> None:
        self.label = label
        self.problems = problems
        lines = "; ".join(str(p) for p in problems)
        super().__init__(f"{label} refused, {len(problems)} problem(s): {lines}")

    def extra(self) -> dict[str, object]:
        return {
            "problems": [
                {
                    "subject": p.subject,
                    "reason": p.reason,
                    "criterion": p.criterion,
                    "message": p.message,
                }
                for p in self.problems
            ]
        }


def parse(text: str, label: str) -> Rulebook:
    """The rulebook in `text` (YAML), its shape checked; RulebookRefused names each field."""
    if len(text.encode("utf-8")) > MAX_RULEBOOK_BYTES:
        raise RulebookRefused(
            label, [Problem(RULEBOOK, "unreadable", f"larger than {MAX_RULEBOOK_BYTES} bytes")]
        )
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise RulebookRefused(
            label, [Problem(RULEBOOK, "unreadable", f"not valid YAML: {error}")]
        ) from None
    if not isinstance(data, dict):
        raise RulebookRefused(label, [Problem(RULEBOOK, "unreadable", "not a YAML mapping")])
    try:
        return Rulebook.model_validate(data)
    except ValidationError as error:
        raise RulebookRefused(
            label, [_shape_problem(data, e["loc"], e["msg"]) for e in error.errors()]
        ) from None


def _shape_problem(data: dict[object, object], loc: tuple[int | str, ...], msg: str) -> Problem:
    """A shape error, named by the rule or privilege it is in when it is in one."""
    subject = RULEBOOK
    if len(loc) >= 2 and loc[0] in ("rules", "privileges", "grades") and isinstance(loc[1], int):
        items = data.get(loc[0])
        item = items[loc[1]] if isinstance(items, list) and loc[1] < len(items) else None
        named = item.get("id", item.get("grade")) if isinstance(item, dict) else None
        subject = str(named) if named is not None else f"{loc[0]}[{loc[1]}]"
        loc = loc[2:]
    where = ".".join(str(p) for p in loc) or "(whole)"
    return Problem(subject, "invalid", f"{where}: {msg}")


def problems(rulebook: Rulebook, profile: Profile) -> list[Problem]:
    """Everything that stops `rulebook` running under `profile`, in rulebook order."""
    found: list[Problem] = []
    programme = profile.points_programme
    if not programme.allowed:
        found.append(
            Problem(
                RULEBOOK,
                "programme_off",
                f"{profile.title} allows no points programme: {programme.off_because}",
            )
        )
    if not rulebook.rules:
        found.append(Problem(RULEBOOK, "invalid", "a rulebook needs at least one rule"))
    found.extend(_duplicates(rulebook))
    for rule in rulebook.rules:
        found.extend(_rule_problems(rule))
    found.extend(_grade_problems(rulebook))
    allowed: set[str] = set(programme.privilege_contexts)
    for privilege in rulebook.privileges:
        found.extend(_privilege_problems(rulebook, privilege, allowed, profile))
    return found


def check(rulebook: Rulebook, profile: Profile, label: str) -> Rulebook:
    """`rulebook` if it may run under `profile`; RulebookRefused with every problem if not."""
    found = problems(rulebook, profile)
    if found:
        raise RulebookRefused(label, found)
    return rulebook


def _duplicates(rulebook: Rulebook) -> list[Problem]:
    found: list[Problem] = []
    for what, ids in (
        ("rule", [r.id for r in rulebook.rules]),
        ("privilege", [p.id for p in rulebook.privileges]),
        ("grade", [g.grade for g in rulebook.grades]),
    ):
        for name in sorted({i for i in ids if ids.count(i) > 1}):
            found.append(Problem(name, "duplicate", f"more than one {what} is named {name!r}"))
    return found


def _prohibited(subject: str, words: str, declared: str | None) -> list[Problem]:
    """One problem per prohibited criterion the declaration or the words name."""
    found: list[Problem] = []
    for criterion, label in PROHIBITED.items():
        said = [f"declares it scores {criterion}"] if declared == criterion else []
        match = TOPICS[criterion].search(words)
        if match:
            said.append(f"its words name it ({match.group(0).strip()!r})")
        if said:
            found.append(
                Problem(
                    subject,
                    "prohibited_criterion",
                    f"scores {label}, a prohibited criterion: {' and '.join(said)}",
                    criterion,
                )
            )
    return found


def _rule_problems(rule: Rule) -> list[Problem]:
    found = _prohibited(rule.id, rule.words(), rule.scores)
    if rule.scores not in LAWFUL_CONDUCT and rule.scores not in PROHIBITED:
        found.append(
            Problem(
                rule.id,
                "unknown_conduct",
                f"scores {rule.scores!r}, which is no known conduct; known: "
                + ", ".join(LAWFUL_CONDUCT),
            )
        )
    kind = EVENT_KINDS.get(rule.event.kind)
    if kind is None:
        found.append(
            Problem(
                rule.id,
                "unknown_kind",
                f"scores {rule.event.kind!r} events, a kind the event catalogue does not hold",
            )
        )
    else:
        for name, value in rule.event.where.items():
            found.extend(_field_problems(rule, name, value))
        if rule.event.min_amount is not None and "amount" not in kind.fields:
            found.append(Problem(rule.id, "unknown_field", f"{kind.name} events carry no amount"))
        evidencing = LAWFUL_CONDUCT.get(rule.scores)
        if evidencing is not None and kind.name not in evidencing:
            found.append(
                Problem(
                    rule.id,
                    "unevidenced_conduct",
                    f"declares it scores {rule.scores}, which a {kind.name} event does not "
                    f"evidence ({'evidenced by: ' + ', '.join(evidencing) if evidencing else 'no event kind evidences it'})",
                )
            )
    if rule.points < 0 and rule.expires_after_months is None:
        found.append(
            Problem(
                rule.id,
                "never_expires",
                f"deducts {-rule.points} points that never expire: a deduction must end "
                "(expires_after_months)",
            )
        )
    if rule.cap is not None and rule.cap.points < abs(rule.points):
        found.append(
            Problem(
                rule.id,
                "cap_below_points",
                f"its cap of {rule.cap.points} per {rule.cap.per} is below one award "
                f"({abs(rule.points)})",
            )
        )
    return found


def _field_problems(rule: Rule, name: str, value: str | tuple[str, ...]) -> list[Problem]:
    kind = EVENT_KINDS[rule.event.kind]
    if name not in kind.fields:
        return [
            Problem(
                rule.id,
                "unknown_field",
                f"its condition names {name!r}, which {kind.name} events do not carry "
                f"(they carry: {', '.join(kind.fields)})",
            )
        ]
    choices = kind.choices.get(name)
    bad = [v for v in _as_tuple(value) if choices is not None and v not in choices]
    if FIELDS[name].type is FieldType.DECIMAL or bad:
        return [
            Problem(
                rule.id,
                "unknown_field",
                f"its condition on {name} cannot hold {', '.join(bad) or 'an exact amount'}"
                + (f" (choices: {', '.join(choices)})" if choices else ""),
            )
        ]
    return []


def _grade_problems(rulebook: Rulebook) -> list[Problem]:
    cut_offs = [g.min_points for g in rulebook.grades]
    if not cut_offs:
        return [Problem(RULEBOOK, "grades", "a rulebook needs at least one grade")]
    *upper, lowest = cut_offs
    if lowest is not None or any(c is None for c in upper):
        return [Problem(RULEBOOK, "grades", "only the last (lowest) grade has no min_points")]
    numbers = [c for c in upper if c is not None]
    if any(a <= b for a, b in itertools.pairwise(numbers)):
        return [Problem(RULEBOOK, "grades", "grades are listed highest first, cut-offs falling")]
    return []


def _privilege_problems(
    rulebook: Rulebook, privilege: Privilege, allowed: set[str], profile: Profile
) -> list[Problem]:
    found = _prohibited(privilege.id, privilege.words(), None)
    if privilege.grade not in {g.grade for g in rulebook.grades}:
        found.append(
            Problem(privilege.id, "unknown_grade", f"names grade {privilege.grade!r}, not defined")
        )
    context = privilege.context
    if context not in CONTEXTS:
        found.append(
            Problem(
                privilege.id,
                "unknown_context",
                f"applies in {context!r}, no known context; known: {', '.join(CONTEXTS)}",
            )
        )
        return found
    if context not in allowed:
        found.append(
            Problem(
                privilege.id,
                "context_not_allowed",
                f"applies in {context}, where {profile.title} allows no privilege"
                + (f" (allowed: {', '.join(sorted(allowed))})" if allowed else ""),
            )
        )
    # A grade sums every rule's points, so a privilege relies on every rule's facts: each
    # must come from the context the privilege applies in.
    unrelated = [
        f"{rule.id} ({'/'.join(rule_contexts(rule)) or 'no context'})"
        for rule in rulebook.rules
        if context not in rule_contexts(rule)
    ]
    if unrelated:
        found.append(
            Problem(
                privilege.id,
                "cross_context",
                f"applies in {context}, but the grade rests on facts from other contexts: "
                f"{', '.join(unrelated)}",
            )
        )
    return found


def rule_contexts(rule: Rule) -> tuple[str, ...]:
    """The contexts the facts a rule scores belong to (none for a kind not in the catalogue)."""
    return EVENT_CONTEXTS.get(rule.event.kind, ())
