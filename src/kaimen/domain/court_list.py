"""Court listings (judgment defaulters): their statuses, which changes between them are
possible, and the forms an ID number takes on a court list.

A listing is `entered` by the court; it ends `satisfied` (the judgment was paid and the court
says so) or `overturned`. Settlement reconciliation adds `settled-pending` (a payment matched
the judgment; still restrictive until the court lifts it) and `lifted`. Ended listings never
come back: a new judgment is a new listing under its own case number.
"""

from __future__ import annotations

from typing import Literal

ListingStatus = Literal["entered", "satisfied", "overturned", "settled-pending", "lifted"]
STATUSES: tuple[ListingStatus, ...] = (
    "entered",
    "satisfied",
    "overturned",
    "settled-pending",
    "lifted",
)
# What a court list file may say; the other statuses are kaimen's own steps.
FILE_STATUSES: tuple[ListingStatus, ...] = ("entered", "satisfied", "overturned")
# Listings that restrict (and, later, count against the score): a matched payment does not
# lift a listing by itself; the court's lifting does.
RESTRICTIVE: frozenset[str] = frozenset({"entered", "settled-pending"})

_NEXT: dict[str, frozenset[str]] = {
    "entered": frozenset({"satisfied", "overturned", "settled-pending"}),
    # The court may object to a matched payment (back to entered) or close the listing.
    "settled-pending": frozenset({"entered", "lifted", "satisfied", "overturned"}),
    "satisfied": frozenset(),
    "overturned": frozenset(),
    "lifted": frozenset(),
}


# A court's file that still says `entered` for a listing kaimen has moved on (a matched
# payment, a lifting past its deadline) is yesterday's list, not an objection: the court
# objects through the API. Such a row leaves the listing as it is.
FILE_LAGS: frozenset[tuple[str, str]] = frozenset(
    {("settled-pending", "entered"), ("lifted", "entered")}
)


def transition_problem(old: str, new: str) -> str | None:
    """Why a listing cannot move from `old` to `new`, or None when it can (or stays)."""
    if old == new or new in _NEXT.get(old, frozenset()):
        return None
    if not _NEXT.get(old):
        return f"the listing is already {old}, which is final; a new judgment is a new case"
    allowed = ", ".join(sorted(_NEXT[old]))
    return f"cannot change from {old} to {new} (from {old}: {allowed})"


# How the ID number of a listing was given.
IdForm = Literal["full", "masked", "unverified"]
ID_FORMS: tuple[IdForm, ...] = ("full", "masked", "unverified")
# Court lists publish numbers with some digits starred out, e.g. 110101********123X.
MASK = "*"
ID_LENGTH = 18
ID_SHAPE = r"^[0-9X*]{18}$"

# Identity link methods, and how a review candidate ends.
LinkMethod = Literal["exact_id", "probabilistic", "review"]
LINK_METHODS: tuple[LinkMethod, ...] = ("exact_id", "probabilistic", "review")
REVIEW_STATES = ("pending", "approved", "rejected")
SYSTEM = "system"

# The vault kinds court-list values are hashed and encrypted under. A full ID number is hashed
# under the same kind as an enrolled one, so that equal numbers have equal hashes.
ENROLLED_ID_KIND = "cn_resident_id"
NAME_KIND = "court_name"
ID_PATTERN_KIND = "court_id_pattern"
ID_VALUE_KIND = "court_id_number"
