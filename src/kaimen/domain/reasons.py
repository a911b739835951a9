"""Reasons: the characteristics that cost a person points, as every score is published with."""

from __future__ import annotations

from dataclasses import dataclass

# The reason an active court listing gives: not a characteristic of the model, a deduction
# after it (the profile's `court_listing_penalty`), with the listing said in full.
COURT_LISTING = "court_listing"


@dataclass(frozen=True, slots=True)
class Reason:
    """A characteristic that cost points against its best bin, with the person's own value
    (None: nothing on record). A snapshot lists them largest loss first."""

    feature: str
    points_lost: int
    value: float | None
    # Said in full where no catalogue template fits: a court listing names its case, court,
    # amount and date ("court judgment ... unpaid since ...").
    detail: str | None = None
