"""The shipped model: readable JSON parameters for exactly the levels the code compares."""

from __future__ import annotations

import json
from importlib import resources

from kaimen.matching.linkage_model import COMPARISONS, PARAMETERS_FILE, settings


def test_parameters_are_plain_json_with_their_provenance() -> None:
    text = resources.files("kaimen.matching").joinpath(PARAMETERS_FILE).read_text("utf-8")
    document = json.loads(text)
    assert {"splink", "seed", "entries", "people", "u", "m"} <= set(document["trained"])


def test_every_compared_level_has_trained_probabilities_and_nothing_else_does() -> None:
    document = json.loads(
        resources.files("kaimen.matching").joinpath(PARAMETERS_FILE).read_text("utf-8")
    )["comparisons"]
    expected = {
        c["output_column_name"]: {
            level["label_for_charts"]
            for level in c["comparison_levels"]
            if not level.get("is_null_level")
        }
        for c in COMPARISONS
    }
    assert {name: set(levels) for name, levels in document.items()} == expected
    for levels in document.values():
        for values in levels.values():
            assert 0 < values["m"] <= 1 and 0 < values["u"] <= 1


def test_agreement_is_evidence_for_and_disagreement_against() -> None:
    for comparison in settings(1e-5)["comparisons"]:
        levels = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
        first, last = levels[0], levels[-1]
        assert first["m_probability"] > first["u_probability"], comparison["output_column_name"]
        assert last["m_probability"] < last["u_probability"], comparison["output_column_name"]
