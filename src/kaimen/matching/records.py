"""Typed values of record linkage: a normalised name, thresholds, and what a match decides."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from kaimen.domain.errors import Rejected

# A court entry links on its own only when the model is this sure: a wrong automatic link
# lists an innocent person, so the bar sits where the simulated benchmark
# made no wrong link at all on 100k people and 8k entries, with a margin (at 0.95 a few
# namesakes already slipped through); on 1M people (benchmarks/results/identity_matching.md)
# it makes 2 wrong in 4,595, precision 0.9996.
DEFAULT_AUTO_LINK = 0.99
# Below this a candidate is not worth a reviewer's time. On the 100k benchmark, lowering it
# from 0.3 to 0.2 quintuples the queue (about 1% to 6% of entries) for one more true link in
# a thousand: the band below 0.3 is mostly namesakes that share a name and region.
DEFAULT_REVIEW = 0.30


class LinkDecision(enum.StrEnum):
    """What happens to an entry's best candidate."""

    AUTO_LINK = "auto_link"
    REVIEW = "review"
    NO_LINK = "no_link"


@dataclass(frozen=True)
class NormalisedName:
    """A name reduced to comparable form (see `kaimen.matching.names`)."""

    hanzi: str | None
    pinyin: str
    unordered: str
    surname: str | None


@dataclass(frozen=True)
class Population:
    """The enrolled population that a linkage's people were drawn from as candidates:
    `people` enrolled (active) in all, `named` of them with a name. The candidates must hold
    everyone in it who shares a name key with an entry, for name frequencies to be exact."""

    people: int
    named: int

    def __post_init__(self) -> None:
        if self.people < 1 or not 0 <= self.named <= self.people:
            raise Rejected(f"a population needs people >= 1 and 0 <= named <= people, got {self}")


@dataclass(frozen=True)
class LinkThresholds:
    """Match probabilities that split candidates: auto-link at or above `auto_link`, human
    review in [`review`, `auto_link`), no link below `review`."""

    auto_link: float = DEFAULT_AUTO_LINK
    review: float = DEFAULT_REVIEW

    def __post_init__(self) -> None:
        if not 0.0 < self.review <= self.auto_link <= 1.0:
            raise Rejected(
                "link thresholds must satisfy 0 < review <= auto_link <= 1, "
                f"got review={self.review}, auto_link={self.auto_link}"
            )

    def decide(self, match_probability: float) -> LinkDecision:
        """The decision for one candidate's match probability."""
        if match_probability >= self.auto_link:
            return LinkDecision.AUTO_LINK
        if match_probability >= self.review:
            return LinkDecision.REVIEW
        return LinkDecision.NO_LINK
