"""The model card as a typed record: its JSON round trip, and its Markdown, which renders every
section of a card built here (and says so when a section is not available)."""

from __future__ import annotations

import itertools
import json

import pytest

from kaimen.domain.model_metrics import BandOutcome, Evaluation
from kaimen.model.evaluation import Calibration
from kaimen.model.model_card import (
    Characteristics,
    DescribedCharacteristic,
    ExcludedCharacteristic,
    IntendedUse,
    KnownOutcomes,
    LevelBounds,
    ModelCard,
    ModelSection,
    OutcomeWindow,
    PendingOutcomes,
    Population,
    Stability,
    StabilityMethod,
    TrainingData,
    Unavailable,
)
from kaimen.model.model_card_markdown import cell, render_markdown
from kaimen.model.stability import stability_item

WINDOW = OutcomeWindow.model_validate({"from": "2025-11", "to": "2026-10", "months": 12})
SCORE = stability_item("score", ["poor (350-549)", "excellent (700-950)"], [60, 40], [50, 50])
LATE = stability_item("late_repayments_12m", ["0", "1+", "missing"], [80, 20, 0], [40, 50, 10])
STEADY = stability_item("income_6m", ["low", "high", "missing"], [50, 50, 0], [50, 50, 0])


def _calibration(band: str, people: int, bads: int, expected: float, z: float) -> Calibration:
    return Calibration(
        band=band,
        people=people,
        bads=bads,
        observed_bad_rate=bads / people,
        expected_bad_rate=expected,
        z=z,
        verdict="more bads than expected" if z > 1.96 else "as expected",
    )


KNOWN = KnownOutcomes(
    status="known",
    window=WINDOW,
    lake_reaches="2026-10",
    as_of="2026-10",
    bands=(_calibration("poor", 50, 10, 0.15, 0.99), _calibration("excellent", 50, 1, 0.01, 2.5)),
    overall=_calibration("all", 100, 11, 0.08, 1.5),
    auc=0.81234,
    ks=0.45678,
    gini=0.62468,
)


def _card(**changes: object) -> ModelCard:
    card = ModelCard(
        format="kaimen.model_card",
        schema_version=1,
        month="2025-10",
        generated_at="2026-11-01T12:00:00+00:00",
        model=ModelSection(
            version="scorecard-2026-10-abc",
            kind="scorecard",
            champion=True,
            trained_at="2026-11-01T12:00:00+00:00",
            as_of="2026-10",
            artifact="/models/scorecard-2026-10-abc.json",
            artifact_sha256="f" * 64,
        ),
        intended_use=IntendedUse(
            purpose="Rank people by risk.",
            population="Enrolled people.",
            use_with="Reasons and disputes.",
            not_for=("thin files", "friends"),
        ),
        training=TrainingData(
            as_of="2026-10",
            snapshots=("2025-07", "2025-08", "2025-09"),
            out_of_time="2025-10",
            outcome_months=12,
            rows=4500,
            bad_rate=0.0675,
            data_fingerprint="a" * 64,
        ),
        characteristics=Characteristics(
            on_card=(
                DescribedCharacteristic(
                    name="late_repayments_12m",
                    dimension="credit_history",
                    direction="descending",
                    information_value=0.5,
                    bins=2,
                    gain=None,
                    risk="falls with it",
                    description="Late | missed repayments",
                ),
            ),
            excluded=(ExcludedCharacteristic(name="friends_on_platform", reason="connections"),),
        ),
        out_of_time=Evaluation(
            rows=1500,
            bad_rate=0.0667,
            expected_bad_rate=0.07,
            auc=0.8592,
            ks=0.5871,
            gini=0.7183,
            bad_rate_by_band=(
                BandOutcome(band="poor", count=462, bad_rate=0.1818, expected_bad_rate=0.2192),
                BandOutcome(band="excellent", count=0, bad_rate=None, expected_bad_rate=None),
            ),
        ),
        stability=Stability(
            month="2025-10",
            population=Population(people=1600, scored=1500, thin_files=100),
            method=StabilityMethod(
                score_bins="the five published bands",
                characteristic_bins="the card's bins",
                epsilon=0.0001,
                levels=LevelBounds(stable="< 0.1", watch="0.1-0.25", act="> 0.25"),
            ),
            score=SCORE,
            characteristics=(LATE, STEADY),
            worst_level="act",
        ),
        outcomes=KNOWN,
        limits=("Thin files are not scored.", "Connections are neutral."),
    )
    return card.model_copy(update=changes)


def test_every_section_of_a_card_is_rendered() -> None:
    markdown = render_markdown(_card())
    assert markdown.startswith(
        "# Model card: scorecard-2026-10-abc\n\nMonitoring month **2025-10**"
    )
    assert markdown.endswith("- Thin files are not scored.\n- Connections are neutral.\n")
    headings = [line for line in markdown.splitlines() if line.startswith("#")]
    assert headings == [
        "# Model card: scorecard-2026-10-abc",
        "## Model",
        "## Intended use",
        "## Training data",
        "## Characteristics",
        "### Excluded characteristics",
        "## Out-of-time performance",
        "## Stability in 2025-10",
        "### Score by band",
        "### late_repayments_12m (act)",
        "## Observed against expected",
        "## Limits",
    ]
    for line in (
        "| scorecard-2026-10-abc | scorecard | yes | 2026-11-01T12:00:00+00:00 | 2026-10 | "
        + "f" * 64
        + " |",
        "- **Population:** Enrolled people.",
        "- **Use with:** Reasons and disputes.",
        "- **Not for:** thin files; friends.",
        "| 2026-10 | 2025-07, 2025-08, 2025-09 | 2025-10 | 12 | 4500 | 6.75% | " + "a" * 64 + " |",
        "| characteristic | dimension | risk | IV | bins | what it measures |",
        # A pipe inside a cell is escaped, so it cannot split the row.
        "| late_repayments_12m | credit_history | falls with it | 0.5000 | 2 | "
        "Late \\| missed repayments |",
        "| friends_on_platform | connections |",
        "AUC 0.8592, KS 0.5871, Gini 0.7183 on 1,500 people (bad rate 6.67%).",
        "| poor | 462 | 18.18% | 21.92% |",
        "| excellent | 0 | - | - |",
        "1,500 of 1,600 people scored (100 thin files). Population stability index against the "
        "training data; score bins: the five published bands; characteristic bins: the card's "
        "bins; shares below 0.0001 count as 0.0001. Levels: stable < 0.1, watch 0.1-0.25, "
        "act > 0.25.",
        f"| score | {SCORE.psi:.4f} | {SCORE.level} |",
        f"| late_repayments_12m | {LATE.psi:.4f} | act |",
        "| income_6m | 0.0000 | stable |",
        "| poor (350-549) | 60 | 60.0% | 50 | 50.0% | " + f"{SCORE.bins[0].psi_term:.4f} |",
        "| missing | 0 | 0.0% | 10 | 10.0% | " + f"{LATE.bins[2].psi_term:.4f} |",
        "Outcome: serious delinquency in 2025-11..2026-10.",
        "Known (the lake reaches 2026-10). Expected: the mean probability of bad implied by each "
        "person's raw score. AUC 0.8123, KS 0.4568, Gini 0.6247.",
        "| poor | 50 | 10 | 20.00% | 15.00% | 0.9900 | as expected |",
        "| excellent | 50 | 1 | 2.00% | 1.00% | 2.5000 | more bads than expected |",
        "| all | 100 | 11 | 11.00% | 8.00% | 1.5000 | as expected |",
    ):
        assert f"\n{line}\n" in markdown, line
    # A stable characteristic is in the summary table, but its bins are not shown.
    assert "### income_6m" not in markdown and "| low |" not in markdown
    # Every table is followed by a blank line.
    lines = markdown.splitlines()
    for before, after in itertools.pairwise(lines):
        if before.startswith("|"):
            assert after.startswith("|") or after == "", (before, after)


def test_a_lightgbm_card_shows_gain_instead_of_iv_and_bins() -> None:
    gain = DescribedCharacteristic(
        name="late_repayments_12m",
        dimension="credit_history",
        direction="auto",
        information_value=None,
        bins=None,
        gain=1234.5,
        risk="unconstrained",
        description="Late repayments",
    )
    card = _card(
        characteristics=Characteristics(on_card=(gain,), excluded=()),
        stability=_card().stability.model_copy(
            update={"characteristics": Unavailable(unavailable="a lightgbm model has no bins")}
        ),
    )
    markdown = render_markdown(card)
    assert "\n| characteristic | dimension | risk | gain | what it measures |\n" in markdown
    assert "\n| late_repayments_12m | credit_history | unconstrained | 1234.5000 | " in markdown
    assert "\n| characteristic | reason |\n|---|---|\n\n## Out-of-time" in markdown
    assert "\nNot available: a lightgbm model has no bins.\n" in markdown
    assert "### late_repayments_12m" not in markdown


def test_sections_that_are_not_available_say_so() -> None:
    stability = _card().stability.model_copy(
        update={
            "score": Unavailable(unavailable="no band counts"),
            "characteristics": Unavailable(unavailable="no bins"),
            "worst_level": None,
        }
    )
    pending = PendingOutcomes(
        status="pending",
        window=WINDOW,
        lake_reaches="2026-09",
        known_after="2026-10",
        message="outcomes will be known once 2026-10 has ended",
    )
    card = _card(
        out_of_time=Unavailable(unavailable="not recorded"),
        stability=stability,
        outcomes=pending,
        limits=(),
        training=TrainingData(
            as_of=None,
            snapshots=None,
            out_of_time=None,
            outcome_months=None,
            rows=None,
            bad_rate=None,
            data_fingerprint=None,
        ),
    )
    markdown = render_markdown(card)
    assert (
        "\n## Out-of-time performance\n\nNot available: not recorded.\n\n## Stability" in markdown
    )
    assert "\n| item | PSI | level |\n|---|---|---|\n\n" in markdown
    assert "\nNot available: no band counts.\n\nNot available: no bins.\n\n" in markdown
    assert "### Score by band" not in markdown
    assert "\nNot known yet: outcomes will be known once 2026-10 has ended.\n" in markdown
    assert "| observed |" not in markdown
    assert "\n| - |  | - | - | - | - | - |\n" in markdown
    assert markdown.endswith("\n## Limits\n\n")


def test_undefined_discrimination_is_a_dash_and_its_note_is_kept() -> None:
    outcomes = KNOWN.model_copy(
        update={"auc": None, "ks": None, "gini": None, "note": "needs both good and bad outcomes"}
    )
    card = _card(outcomes=outcomes)
    assert "AUC -, KS -, Gini -." in render_markdown(card)
    document = json.loads(card.to_json())
    assert document["outcomes"]["note"] == "needs both good and bad outcomes"
    assert ModelCard.from_json(card.to_json()) == card


def test_the_json_round_trip_keeps_every_key_and_only_those_that_were_set() -> None:
    card = _card()
    text = card.to_json()
    document = json.loads(text)
    # Every field is written, in the order the record declares them, but for the held-out
    # figures, which a card of a model trained before they were recorded does not have, and
    # the fairness section, written only once `kaimen fairness` has made a report.
    left_out = {"held_out_people", "out_of_window", "evaluation_about", "fairness"}
    assert list(document) == [f for f in ModelCard.model_fields if f not in left_out]
    # No note when AUC and KS could be computed; `from` for the window's first month.
    assert "note" not in document["outcomes"]
    assert document["outcomes"]["window"] == {"from": "2025-11", "to": "2026-10", "months": 12}
    assert document["stability"]["characteristics"][0]["bins"][2]["label"] == "missing"
    again = ModelCard.from_json(text)
    assert again == card and again.to_json() == text
    assert render_markdown(again) == render_markdown(card)
    with pytest.raises(ValueError, match="Extra inputs are not permitted"):
        ModelCard.from_json(text.replace('"limits"', '"limitz"'))


@pytest.mark.parametrize(
    ("value", "shown"),
    [(None, "-"), (True, "yes"), (False, "no"), (0.5, "0.5000"), (3, "3"), ("a|b\nc", "a\\|b c")],
)
def test_a_cell_shows_each_kind_of_value(value: object, shown: str) -> None:
    assert cell(value) == shown


def test_the_held_out_figures_say_what_they_are_measured_on() -> None:
    figure = _card().out_of_time
    card = _card(
        held_out_people=figure,
        out_of_window=Unavailable(unavailable="not computed: it needs history from before X"),
        evaluation_about={
            "held_out_people": "people held out of training, at the training snapshots",
            "out_of_window": "not computed: it needs history from before X",
        },
    )
    text = render_markdown(card)
    assert "- held out people: people held out of training, at the training snapshots" in text
    assert "- held-out people: AUC" in text
    assert "- out of window: not available (not computed: it needs history from before X)" in text
    again = ModelCard.from_json(card.to_json())
    assert again == card
