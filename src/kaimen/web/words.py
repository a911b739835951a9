"""The words pages use for the domain's names (bands, dimensions), marked for the catalogue.

Band words are neutral, as the domain's are: a band says where a score falls, never anything
about the person's class, education or worth."""

from __future__ import annotations


def N_(message: str) -> str:  # noqa: N802 - the name gettext's extractors look for
    """Mark a message for the catalogue; it is translated where it is shown."""
    return message


BAND_WORDS: dict[str, str] = {
    "poor": N_("poor"),
    "fair": N_("fair"),
    "good": N_("good"),
    "very good": N_("very good"),
    "excellent": N_("excellent"),
}

DIMENSION_WORDS: dict[str, tuple[str, str]] = {
    "credit_history": (N_("Credit history"), N_("How loans and bills were repaid over time.")),
    "behaviour": (N_("Behaviour"), N_("Regular payments and steady use of accounts.")),
    "capacity": (N_("Capacity"), N_("Income and commitments: room to take on more.")),
    "identity": (N_("Identity"), N_("How well identity details are confirmed.")),
    "connections": (N_("Connections"), N_("Friends' scores, only where you chose to count them.")),
}
