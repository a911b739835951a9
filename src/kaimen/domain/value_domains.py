"""The values a numeric characteristic can take, for checking a value a person asks about
(a what-if) rather than one computed from their record."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ValueDomain:
    """Values from `low` to `high` inclusive; whole numbers only when `whole` (a count)."""

    low: float
    high: float
    whole: bool = False

    def refusal(self, value: float) -> str | None:
        """Why `value` (finite) lies outside the domain, or None when it lies inside."""
        if not self.low <= value <= self.high:
            return f"between {self.low:g} and {self.high:g}"
        if self.whole and not value.is_integer():
            return "a whole number"
        return None
