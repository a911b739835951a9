"""Fairness on real data: kaimen's scorecard on the German credit data, by sex and age band
(run by hand).

    .venv/bin/python benchmarks/fairness_german_credit.py

The cards are those of benchmarks/model_quality.py (its headline, and the same without the
sex/marital-status and foreign-worker attributes), fitted on the same protocol:
RepeatedStratifiedKFold(n_splits=5, n_repeats=5, random_state=20240601). Each repeat scores
every applicant exactly once from a card that never saw them, so each repeat gives one
held-out score per applicant; the report (`kaimen.model.fairness`, as `kaimen fairness` computes
it) is made on each repeat's 1,000 held-out scores, and its figures are averaged over the five
repeats.

- Sex: `personal_status_and_sex` ("female : ..." or "male : ..."). Age band: `age_in_years`,
  in the bands of `kaimen.domain.audit_groups`.
- Predicted bad rate: the probability of bad the card's unclipped raw score stands for (the
  scale's inverse, as the model card uses). AUC: of the raw score within the group.
- The data set has no offers: approval is taken at the raw-score cut-offs that approve 70% (the
  data's share of good applicants) and 50% of all applicants in the repeat.
- Groups under 50 applicants are suppressed, as in `kaimen fairness`.

Results go to benchmarks/results/fairness_german_credit.md and .json.
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.model_selection import RepeatedStratifiedKFold

from kaimen.domain.audit_groups import AGE_BANDS, age_band
from kaimen.model.fairness import MIN_GROUP, Cutoff, FairnessFigures, fairness_figures
from kaimen.model.scorecard import raw_score
from kaimen.scoring.training import probability_of_bad
from model_quality import DERIVED, PROTECTED, RESULTS, SEED, load, machine, variants

APPROVED_SHARES = (0.7, 0.5)
REPEATS, SPLITS = 5, 5


def held_out_scores(drop: Sequence[str]) -> list[np.ndarray]:
    """Per repeat, every applicant's raw score from the card of the fold that held them out."""
    features, bad, specs = load()
    fit = next(v for v in variants() if v.headline).fit
    kept = [s for s in specs if s.name not in drop]
    splitter = RepeatedStratifiedKFold(n_splits=SPLITS, n_repeats=REPEATS, random_state=SEED)
    repeats = [np.full(bad.size, np.nan) for _ in range(REPEATS)]
    for number, (train, test) in enumerate(splitter.split(np.zeros(bad.size), bad)):
        card = fit({s.name: features[s.name][train] for s in kept}, bad[train], kept)
        repeats[number // SPLITS][test] = raw_score(
            card, {s.name: features[s.name][test] for s in kept}
        )
        print(f"fold {number + 1}/{REPEATS * SPLITS}", file=sys.stderr, flush=True)
    return repeats


def groups() -> tuple[np.ndarray, dict[str, list[str]]]:
    features, bad, _ = load()
    sex = [
        "female" if str(v).startswith("female") else "male"
        for v in features["personal_status_and_sex"]
    ]
    ages = [age_band(int(a)) for a in features["age_in_years"]]
    return bad, {"sex": sex, "age_band": ages}


def figures_of(raw: np.ndarray, bad: np.ndarray, labels: dict[str, list[str]]) -> FairnessFigures:
    cutoffs = [
        Cutoff(name=f"approve {share:.0%}", score=int(np.floor(np.quantile(raw, 1 - share))))
        for share in APPROVED_SHARES
    ]
    return fairness_figures(
        bad,
        np.rint(raw).astype(np.int64),
        probability_of_bad(raw),
        labels,
        cutoffs,
        MIN_GROUP,
        orders={"sex": ["female", "male"], "age_band": [n for n, _ in AGE_BANDS]},
    )


def averaged(runs: list[FairnessFigures]) -> list[dict[str, Any]]:
    """Each group's figures, averaged over the repeats (a group is suppressed in all or none:
    its size does not change)."""
    rows: list[dict[str, Any]] = []
    for i, first in enumerate(runs[0].groups):
        same = [r.groups[i] for r in runs]
        row: dict[str, Any] = {
            "attribute": first.attribute,
            "group": first.group,
            "suppressed": first.suppressed,
        }
        if not first.suppressed:

            def mean(values: list[float | None]) -> float | None:
                kept = [v for v in values if v is not None]
                return float(np.mean(kept)) if kept else None

            row |= {
                "people": first.people,
                "bads": first.bads,
                "auc": mean([g.auc for g in same]),
                "observed_bad_rate": first.observed_bad_rate,
                "predicted_bad_rate": mean([g.predicted_bad_rate for g in same]),
                "calibration_z": mean([g.calibration_z for g in same]),
                "approvals": [
                    {
                        "cutoff": a.cutoff,
                        "approval_rate": mean([g.approvals[j].approval_rate for g in same]),
                        "impact_ratio": mean([g.approvals[j].impact_ratio for g in same]),
                        "repeats_below_four_fifths": sum(
                            g.approvals[j].below_four_fifths for g in same
                        ),
                    }
                    for j, a in enumerate(first.approvals)
                ],
            }
        rows.append(row)
    return rows


def markdown(models: dict[str, list[dict[str, Any]]], about: dict[str, Any], command: str) -> str:
    lines = [
        "# Fairness on real data: German credit, by sex and age band",
        "",
        "Statlog German credit data (1,000 applicants, 300 bad; 310 women, 690 men). The cards of "
        "benchmarks/model_quality.py on its folds (RepeatedStratifiedKFold(5, 5, "
        f"random_state={SEED})); each figure is the mean over the five repeats of the report on "
        "that repeat's 1,000 held-out scores. Approval at the cut-offs approving 70% and 50% of "
        "applicants; impact ratio: a group's approval rate over the best-approved group's, "
        "flagged below 0.8 (the four-fifths rule). Groups under "
        f"{MIN_GROUP} applicants are suppressed.",
        "",
        f"{about['date']}; {about['cpu']}, {about['cores']} cores; Python {about['python']}; "
        f"commit {about['commit']}.",
        "",
        f"Command: `{command}`",
    ]
    for name, rows in models.items():
        lines += [
            "",
            f"## {name}",
            "",
            "| attribute | group | people | bad rate | predicted | AUC | approved at 70% | ratio | approved at 50% | ratio |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            if r["suppressed"]:
                lines.append(f"| {r['attribute']} | {r['group']} | suppressed | | | | | | | |")
                continue
            cells = []
            for a in r["approvals"]:
                flag = (
                    " **<0.8**" if a["impact_ratio"] is not None and a["impact_ratio"] < 0.8 else ""
                )
                cells += [f"{a['approval_rate']:.1%}", f"{a['impact_ratio']:.2f}{flag}"]
            lines.append(
                f"| {r['attribute']} | {r['group']} | {r['people']} | {r['observed_bad_rate']:.1%} | "
                f"{r['predicted_bad_rate']:.1%} | {r['auc']:.3f} | " + " | ".join(cells) + " |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    about = machine()
    bad, labels = groups()
    models: dict[str, list[dict[str, Any]]] = {}
    for name, drop in (
        ("Headline card (its inputs include sex/marital status and age)", ()),
        (
            "Without the sex/marital-status and foreign-worker attributes (age still an input)",
            PROTECTED,
        ),
    ):
        runs = [figures_of(raw, bad, labels) for raw in held_out_scores(drop)]
        models[name] = averaged(runs)
    command = shlex.join(
        [".venv/bin/python", "benchmarks/fairness_german_credit.py", *sys.argv[1:]]
    )
    text = markdown(models, about, command)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "fairness_german_credit.md").write_text(text)
    document = {
        "about": about,
        "command": command,
        "min_group": MIN_GROUP,
        "derived": list(DERIVED),
        "models": models,
    }
    (RESULTS / "fairness_german_credit.json").write_text(json.dumps(document, indent=2) + "\n")


if __name__ == "__main__":
    main()
