"""Who is asking: the admin, a partner (through one of its API keys) or a person (with their
own token). The doors establish it; services read it to decide what to log and for whom."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ADMIN = "admin"
# What a partner's API key may be used for.
SCOPES = ("decisions", "disputes", "events", "feedback", "points", "reports", "restrictions")
# A partner id: lower-case letters, digits and hyphens, 3-64, starting and ending with a
# letter or digit.
PARTNER_ID_PATTERN = r"[a-z0-9][a-z0-9\-]{1,62}[a-z0-9]"

CallerKind = Literal["admin", "partner", "person"]


@dataclass(frozen=True)
class Caller:
    kind: CallerKind
    # As written to the audit and access logs: "admin", "cli", "partner:<id>", "person:<id>".
    actor: str
    partner_id: str | None = None
    person_id: str | None = None
    key_id: str | None = None
    scopes: tuple[str, ...] = ()

    @classmethod
    def admin(cls, actor: str = ADMIN) -> Caller:
        return cls("admin", actor)

    @classmethod
    def partner(cls, partner_id: str, key_id: str, scopes: tuple[str, ...]) -> Caller:
        return cls(
            "partner", f"partner:{partner_id}", partner_id=partner_id, key_id=key_id, scopes=scopes
        )

    @classmethod
    def person(cls, person_id: str) -> Caller:
        return cls("person", f"person:{person_id}", person_id=person_id)

    def is_person(self, person_id: str) -> bool:
        return self.kind == "person" and self.person_id == person_id

    def reads_person(self, person_id: str) -> bool:
        """The person themselves or the admin; nobody else (partners go through decisions
        and reports, under consent)."""
        return self.kind == "admin" or self.is_person(person_id)
