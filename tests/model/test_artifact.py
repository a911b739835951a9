"""The JSON artifact: round trip, readability, refusal of edited or unknown artifacts, and the
library versions each model records."""

from __future__ import annotations

import dataclasses
import functools
import json
import platform
import re
from collections.abc import Callable
from typing import Any

import lightgbm as lgb
import numpy as np
import pytest

from kaimen.domain.errors import KaimenError
from kaimen.model import challenger
from kaimen.model.artifact import (
    SCHEMA_VERSION,
    ArtifactRejected,
    content_hash,
    from_json,
    to_json,
)
from kaimen.model.library_versions import LIBRARIES, VersionDrift, running, version_drift
from kaimen.model.scorecard import Scorecard, points, raw_score, reasons
from tests.model.synthetic_population import (
    SPECS,
    holdout,
    mixed,
    synthetic,
    trained,
    trained_mixed,
)


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


def test_a_categorical_card_round_trips() -> None:
    card = trained_mixed()
    text = to_json(card)
    loaded = from_json(text)
    assert loaded == card
    features, _ = mixed(3_000, seed=4)
    features["employment"] = features["employment"].copy()
    features["employment"][:30] = "pilot"  # unseen: scores with the same bin after loading
    np.testing.assert_array_equal(raw_score(loaded, features), raw_score(card, features))
    employment = next(
        c for c in json.loads(text)["card"]["characteristics"] if c["name"] == "employment"
    )
    assert employment["kind"] == "categorical"
    assert isinstance(employment["unseen_bin"], int)
    assert all("upper_edge" not in b for b in employment["bins"])
    categories = [c for b in employment["bins"] for c in b["categories"]]
    assert "civil servant" in categories and all(isinstance(c, str) for c in categories)
    grade = next(c for c in json.loads(text)["card"]["characteristics"] if c["name"] == "grade")
    # Integer codes are written as the strings they are compared as.
    assert sorted(c for b in grade["bins"] for c in b["categories"]) == ["0", "1", "2", "3", "4"]
    numeric = next(c for c in json.loads(text)["card"]["characteristics"] if c["kind"] == "numeric")
    assert all("categories" not in b for b in numeric["bins"])
    assert json.loads(text)["card"]["settings"]["l2"] == card.settings["l2"]


def _without_own_group(card: Scorecard) -> Scorecard:
    return dataclasses.replace(
        card,
        characteristics=tuple(
            dataclasses.replace(c, missing_own_group=None) for c in card.characteristics
        ),
    )


def test_a_version_1_artifact_is_still_read() -> None:
    # Version 1 had no kind, no categories and no settings; it knew numbers only.
    card = with_metrics()
    document = json.loads(to_json(card))
    content = document["card"]
    del content["settings"]
    for c in content["characteristics"]:
        del c["kind"]
        del c["missing"]["own_group"]
    document |= {"schema_version": 1, "content_sha256": content_hash(content)}
    loaded = from_json(json.dumps(document))
    assert loaded == _without_own_group(dataclasses.replace(card, settings={}))


def test_a_version_2_artifact_keeps_its_points_and_reads_codes_canonically() -> None:
    card = trained_mixed()
    document = json.loads(to_json(card))
    content = document["card"]
    for c in content["characteristics"]:
        del c["missing"]["own_group"]
    grade = next(c for c in content["characteristics"] if c["name"] == "grade")
    # Version 2 compared raw text: a code written "2.0" in training is "2" today.
    grade["bins"][0]["categories"] = [f"{int(x)}.0" for x in grade["bins"][0]["categories"]]
    document |= {"schema_version": 2, "content_sha256": content_hash(content)}
    loaded = from_json(json.dumps(document))
    assert loaded == _without_own_group(card)
    # Two spellings of one code in two bins cannot both be honoured: refused, plainly.
    grade["bins"][1]["categories"] = [*grade["bins"][1]["categories"], "0.0"]
    grade["bins"][0]["categories"] = ["0"]
    document |= {"content_sha256": content_hash(content)}
    with pytest.raises(ArtifactRejected, match="one bin only"):
        from_json(json.dumps(document))


def test_a_version_3_artifact_holds_canonical_codes_and_the_blank_rule() -> None:
    document = json.loads(to_json(trained_mixed()))
    for c in document["card"]["characteristics"]:
        assert isinstance(c["missing"]["own_group"], bool)
    grade = next(c for c in document["card"]["characteristics"] if c["name"] == "grade")
    grade["bins"][0]["categories"] = ["00"]
    document["content_sha256"] = content_hash(document["card"])
    with pytest.raises(ArtifactRejected, match="canonical"):
        from_json(json.dumps(document))


@pytest.mark.parametrize("version", [0, 4, "2", True, None, 2.0, [2]])
def test_other_schema_versions_are_refused_with_the_readable_ones_named(version: object) -> None:
    document = json.loads(to_json(with_metrics()))
    document["schema_version"] = version
    with pytest.raises(ArtifactRejected, match=r"schema_version .* reads 1 and 2 and 3"):
        from_json(json.dumps(document))


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda c: c["bins"][0].update(categories=[1]), "strings"),
        (lambda c: c["bins"][0].update(categories="civil servant"), "strings"),
        (lambda c: c.update(unseen_bin=99), "unseen_bin"),
        (lambda c: c.update(kind="ordinal"), "kind"),
        (lambda c: c["bins"][1].update(categories=c["bins"][0]["categories"]), "one bin"),
    ],
)
def test_a_malformed_categorical_characteristic_is_refused(
    change: Callable[[dict[str, Any]], None], why: str
) -> None:
    document = json.loads(to_json(trained_mixed()))
    employment = next(c for c in document["card"]["characteristics"] if c["name"] == "employment")
    change(employment)
    document["content_sha256"] = content_hash(document["card"])
    with pytest.raises(ArtifactRejected, match=f"malformed.*{why}"):
        from_json(json.dumps(document))


# -- library versions ----------------------------------------------------------------------


@functools.cache
def small_challenger() -> challenger.Challenger:
    features, bad = synthetic(3_000, seed=3)
    return challenger.fit_challenger(
        features, bad, SPECS[:3], version="lgb-versions", training={"rows": 3_000}
    )


# Each kind of model: how it is made, written, read, and the key of its content.
KINDS = {
    "scorecard": (with_metrics, to_json, from_json, "card"),
    "lightgbm": (small_challenger, challenger.to_json, challenger.from_json, "model"),
}


def rewritten(text: str, key: str, change: Callable[[dict[str, Any]], None]) -> str:
    """The artifact with its content changed and hashed again, as a genuine artifact with
    that content would be."""
    document = json.loads(text)
    change(document[key])
    document["content_sha256"] = content_hash(document[key])
    return json.dumps(document, indent=2)


@pytest.mark.parametrize("kind", KINDS)
def test_an_artifact_records_the_library_versions_it_was_fitted_under(kind: str) -> None:
    make, write, _, key = KINDS[kind]
    document = json.loads(write(make()))
    recorded = document[key]["library_versions"]
    assert set(LIBRARIES) >= {"python", "kaimen", "numpy", "lightgbm", "scikit-learn"}
    assert set(LIBRARIES) >= {"pyarrow", "duckdb"}
    assert recorded == running() and list(recorded) == list(LIBRARIES)
    assert recorded["python"] == platform.python_version()
    assert recorded["numpy"] == np.__version__
    assert recorded["lightgbm"] == lgb.__version__
    # Under the content hash, like the rest of the model.
    assert document["content_sha256"] == content_hash(document[key])


@pytest.mark.parametrize("kind", KINDS)
def test_a_reload_under_the_same_versions_reports_no_drift(kind: str) -> None:
    make, write, read, _ = KINDS[kind]
    model = make()
    loaded = read(write(model))
    assert loaded == model
    assert loaded.library_versions == running()
    assert version_drift(loaded.library_versions) == ()


@pytest.mark.parametrize("kind", KINDS)
def test_a_reload_under_other_versions_reports_exactly_the_libraries_that_differ(
    kind: str,
) -> None:
    make, write, read, key = KINDS[kind]
    model = make()

    def older(content: dict[str, Any]) -> None:
        content["library_versions"] |= {"numpy": "1.26.4", "duckdb": "1.1.3"}

    loaded = read(rewritten(write(model), key, older))
    assert version_drift(loaded.library_versions) == (
        VersionDrift("numpy", "1.26.4", np.__version__),
        VersionDrift("duckdb", "1.1.3", running()["duckdb"]),
    )
    # The recorded versions survive a rewrite: they say what fitted the model, not who saved it.
    assert read(write(loaded)).library_versions == loaded.library_versions
    assert dataclasses.replace(loaded, library_versions=running()) == model


def test_a_model_fitted_under_other_versions_reports_them() -> None:
    fitted_elsewhere = dataclasses.replace(
        with_metrics(), library_versions={**running(), "python": "3.12.1", "lightgbm": "4.6.0"}
    )
    drift = version_drift(from_json(to_json(fitted_elsewhere)).library_versions)
    assert drift == (
        VersionDrift("python", "3.12.1", platform.python_version()),
        VersionDrift("lightgbm", "4.6.0", lgb.__version__),
    )
    assert [str(d) for d in drift] == [
        f"python: 3.12.1 in the artifact, {platform.python_version()} here",
        f"lightgbm: 4.6.0 in the artifact, {lgb.__version__} here",
    ]


def test_a_library_this_kaimen_does_not_track_is_reported_when_recorded() -> None:
    recorded = {**running(), "polars": "1.9.0"}
    assert version_drift(recorded) == (VersionDrift("polars", "1.9.0", None),)
    assert str(version_drift(recorded)[0]) == "polars: 1.9.0 in the artifact, not installed here"


@pytest.mark.parametrize("kind", KINDS)
def test_an_artifact_from_before_versions_were_recorded_still_loads(kind: str) -> None:
    make, write, read, key = KINDS[kind]
    model = make()
    loaded = read(rewritten(write(model), key, lambda content: content.pop("library_versions")))
    assert loaded == dataclasses.replace(model, library_versions={})
    # Nothing recorded, nothing vouched for: every library is reported.
    drift = version_drift(loaded.library_versions)
    assert [d.library for d in drift] == list(LIBRARIES)
    assert all(d.recorded is None for d in drift)
    assert (
        str(drift[0]) == f"python: not recorded in the artifact, {platform.python_version()} here"
    )


@pytest.mark.parametrize("kind", KINDS)
def test_edited_versions_are_refused(kind: str) -> None:
    make, write, read, key = KINDS[kind]
    document = json.loads(write(make()))
    document[key]["library_versions"]["numpy"] = "1.26.4"
    with pytest.raises(ArtifactRejected, match="hash"):
        read(json.dumps(document))


@pytest.mark.parametrize("versions", [{"numpy": 2}, {"numpy": None}, ["numpy", "2.4.6"], "2.4.6"])
@pytest.mark.parametrize("kind", KINDS)
def test_malformed_versions_are_refused(kind: str, versions: object) -> None:
    make, write, read, key = KINDS[kind]

    def malformed(content: dict[str, Any]) -> None:
        content["library_versions"] = versions

    with pytest.raises(ArtifactRejected, match=r"malformed.*library_versions"):
        read(rewritten(write(make()), key, malformed))
