"""The JSON artifact: round trip, readability and refusal of edited or unknown artifacts."""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest

from kaimen.domain.errors import KaimenError
from kaimen.model.artifact import (
    SCHEMA_VERSION,
    ArtifactRejected,
    content_hash,
    from_json,
    to_json,
)
from kaimen.model.scorecard import Scorecard, points, raw_score, reasons
from tests.model.test_scorecard import holdout, trained


def with_metrics() -> Scorecard:
    return dataclasses.replace(trained(), metrics={"auc": 0.74, "ks": 0.35, "rows": 10_000})


def test_a_loaded_card_scores_bit_identically() -> None:
    card = with_metrics()
    loaded = from_json(to_json(card))
    assert loaded == card
    features, _ = holdout()
    features["income"][:50] = np.nan
    np.testing.assert_array_equal(points(loaded, features), points(card, features))
    np.testing.assert_array_equal(raw_score(loaded, features), raw_score(card, features))
    assert reasons(loaded, features) == reasons(card, features)
    # Edges and WoE come back as the very same doubles.
    for a, b in zip(loaded.characteristics, card.characteristics, strict=True):
        assert np.array(a.edges).tobytes() == np.array(b.edges).tobytes()
        assert np.array(a.woe).tobytes() == np.array(b.woe).tobytes()


def test_the_artifact_is_readable_and_stable() -> None:
    card = with_metrics()
    text = to_json(card)
    assert text == to_json(card)
    assert text.startswith("{\n  ")
    document = json.loads(text)
    assert document["schema_version"] == SCHEMA_VERSION
    assert re.fullmatch("[0-9a-f]{64}", document["content_sha256"])
    assert document["content_sha256"] == content_hash(document["card"])
    assert document["card"]["version"] == "test-1"
    assert document["card"]["metrics"]["auc"] == 0.74
    first = document["card"]["characteristics"][0]
    assert {"label", "upper_edge", "points", "woe", "count", "bads"} <= set(first["bins"][0])
    assert first["bins"][-1]["upper_edge"] is None
    assert first["missing"]["label"] == "missing"
    assert "pickle" not in text


def test_an_edited_points_value_is_refused() -> None:
    text = to_json(with_metrics())
    match = re.search(r'"points": (-?\d+)', text)
    assert match is not None
    edited = text[: match.start(1)] + str(int(match.group(1)) + 1) + text[match.end(1) :]
    assert edited != text
    with pytest.raises(ArtifactRejected, match="hash"):
        from_json(edited)


def test_an_edit_with_the_old_hash_left_in_place_is_refused_anywhere() -> None:
    document = json.loads(to_json(with_metrics()))
    document["card"]["excluded"]["shoe_size"] = "nothing to see"
    with pytest.raises(ArtifactRejected, match="hash"):
        from_json(json.dumps(document))


def test_an_unknown_schema_version_is_refused() -> None:
    document = json.loads(to_json(with_metrics()))
    document["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(ArtifactRejected, match="schema_version"):
        from_json(json.dumps(document))


@pytest.mark.parametrize(
    "text",
    ["", "not json", "[1, 2]", '{"format": "something else"}', '{"x": NaN}'],
)
def test_non_artifacts_are_refused(text: str) -> None:
    with pytest.raises(ArtifactRejected):
        from_json(text)


def test_a_malformed_card_with_a_matching_hash_is_refused() -> None:
    document = json.loads(to_json(with_metrics()))
    document["card"]["characteristics"][0]["bins"][0]["points"] = "many"
    document["content_sha256"] = content_hash(document["card"])
    with pytest.raises(ArtifactRejected, match="malformed"):
        from_json(json.dumps(document))
    del document["card"]["characteristics"][0]["bins"][-1]
    document["content_sha256"] = content_hash(document["card"])
    with pytest.raises(ArtifactRejected, match="malformed"):
        from_json(json.dumps(document))


def test_the_refusal_is_a_kaimen_error() -> None:
    assert issubclass(ArtifactRejected, KaimenError)


def test_non_json_metrics_cannot_be_written() -> None:
    card = dataclasses.replace(trained(), metrics={"auc": float("nan")})
    with pytest.raises(ValueError, match="not plain JSON"):
        to_json(card)
