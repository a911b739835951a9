"""Thresholds and decisions."""

from __future__ import annotations

import pyarrow as pa
import pytest

from kaimen.domain.errors import Rejected
from kaimen.matching.linkage import classify
from kaimen.matching.records import (
    DEFAULT_AUTO_LINK,
    DEFAULT_REVIEW,
    LinkDecision,
    LinkThresholds,
)


def test_defaults_are_documented_values() -> None:
    assert LinkThresholds() == LinkThresholds(auto_link=0.99, review=0.30)
    assert (DEFAULT_AUTO_LINK, DEFAULT_REVIEW) == (0.99, 0.30)


@pytest.mark.parametrize(
    ("probability", "decision"),
    [
        (1.0, LinkDecision.AUTO_LINK),
        (0.99, LinkDecision.AUTO_LINK),
        (0.9899, LinkDecision.REVIEW),
        (0.30, LinkDecision.REVIEW),
        (0.2999, LinkDecision.NO_LINK),
        (0.0, LinkDecision.NO_LINK),
    ],
)
def test_bands_include_their_lower_bound(probability: float, decision: LinkDecision) -> None:
    assert LinkThresholds().decide(probability) is decision


@pytest.mark.parametrize(("auto_link", "review"), [(0.5, 0.6), (1.1, 0.5), (0.9, 0.0)])
def test_inconsistent_thresholds_are_rejected(auto_link: float, review: float) -> None:
    with pytest.raises(Rejected, match="thresholds"):
        LinkThresholds(auto_link=auto_link, review=review)


def test_classify_matches_decide_and_never_links_an_entry_without_a_person() -> None:
    matches = pa.table(
        {
            "entry_key": ["a", "b", "c", "d"],
            "person_id": ["p1", "p2", "p3", None],
            "match_probability": [0.995, 0.6, 0.1, 0.0],
            "match_weight": [9.0, 1.0, -3.0, None],
        }
    )
    thresholds = LinkThresholds(auto_link=0.95, review=0.5)
    decided = classify(matches, thresholds).column("decision").to_pylist()
    assert decided == ["auto_link", "review", "no_link", "no_link"]
    assert decided == [
        thresholds.decide(p).value for p in matches.column("match_probability").to_pylist()
    ]
