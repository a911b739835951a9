"""Fairness figures of a score across groups of people: no I/O, arrays in, a record out.

For each group of each attribute (sex, age band, region): how well the score ranks within the
group (AUC), whether its probabilities come true there (predicted against observed bad rate,
with z), and the share approved at each cut-off. The disparate-impact ratio is a group's
approval rate over the best-approved reported group of the same attribute; below 0.8 breaks
the four-fifths rule (US EEOC Uniform Guidelines, 29 CFR 1607.4(D)) and is flagged.

A group smaller than `min_group` is suppressed: none of its figures (not even its size) is
given, since a handful of people's outcomes would be both noise and close to naming them, and it
is never the reference group for the ratio.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt

from kaimen.domain.records import FrozenRecord
from kaimen.model.evaluation import CALIBRATION_Z, Verdict, auc

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

FOUR_FIFTHS = 0.8
MIN_GROUP = 50


class Cutoff(FrozenRecord):
    """A score at which people are approved: a live offer's required score, or for a data set
    without offers, a cut-off chosen by the report."""

    name: str
    score: int


class Approval(FrozenRecord):
    cutoff: str
    approval_rate: float
    # Against the best-approved reported group of the attribute; None when nobody in any
    # reported group is approved.
    impact_ratio: float | None
    below_four_fifths: bool


class GroupFigures(FrozenRecord):
    """One group's figures; when `suppressed`, none are given."""

    attribute: str
    group: str
    suppressed: bool
    people: int | None = None
    bads: int | None = None
    auc: float | None = None
    observed_bad_rate: float | None = None
    predicted_bad_rate: float | None = None
    calibration_z: float | None = None
    calibration: Verdict | None = None
    approvals: tuple[Approval, ...] = ()


class FairnessFigures(FrozenRecord):
    people: int
    min_group: int
    cutoffs: tuple[Cutoff, ...]
    groups: tuple[GroupFigures, ...]
    findings: tuple[str, ...]

    @property
    def suppressed(self) -> int:
        return sum(g.suppressed for g in self.groups)


def _group(
    attribute: str,
    name: str,
    bad: IntArray,
    score: IntArray,
    predicted: FloatArray,
    cutoffs: Sequence[Cutoff],
) -> GroupFigures:
    people = len(bad)
    bads = int(bad.sum())
    expected = float(predicted.sum())
    variance = float((predicted * (1 - predicted)).sum())
    z = (bads - expected) / math.sqrt(variance) if variance > 0 else None
    verdict: Verdict | None = None
    if z is not None:
        verdict = (
            "more bads than expected"
            if z > CALIBRATION_Z
            else "fewer bads than expected"
            if z < -CALIBRATION_Z
            else "as expected"
        )
    return GroupFigures(
        attribute=attribute,
        group=name,
        suppressed=False,
        people=people,
        bads=bads,
        # Undefined when everyone in the group went bad or nobody did.
        auc=auc(bad, score) if 0 < bads < people else None,
        observed_bad_rate=bads / people,
        predicted_bad_rate=expected / people,
        calibration_z=z,
        calibration=verdict,
        approvals=tuple(
            Approval(
                cutoff=c.name,
                approval_rate=float((score >= c.score).mean()),
                impact_ratio=None,
                below_four_fifths=False,
            )
            for c in cutoffs
        ),
    )


def _with_ratios(groups: list[GroupFigures], cutoffs: Sequence[Cutoff]) -> list[GroupFigures]:
    """Each reported group's approvals with the impact ratio against the best-approved one."""
    best = [
        max((g.approvals[i].approval_rate for g in groups if not g.suppressed), default=0.0)
        for i in range(len(cutoffs))
    ]
    out: list[GroupFigures] = []
    for g in groups:
        if g.suppressed:
            out.append(g)
            continue
        approvals = []
        for i, a in enumerate(g.approvals):
            ratio = a.approval_rate / best[i] if best[i] > 0 else None
            approvals.append(
                a.model_copy(
                    update={
                        "impact_ratio": ratio,
                        "below_four_fifths": ratio is not None and ratio < FOUR_FIFTHS,
                    }
                )
            )
        out.append(g.model_copy(update={"approvals": tuple(approvals)}))
    return out


def _findings(groups: Sequence[GroupFigures]) -> list[str]:
    findings: list[str] = []
    for g in groups:
        for a in g.approvals:
            if a.below_four_fifths and a.impact_ratio is not None:
                findings.append(
                    f"{g.attribute} '{g.group}' at {a.cutoff}: approved {a.approval_rate:.1%}, "
                    f"{a.impact_ratio:.2f} of the best-approved group (below four fifths)"
                )
        if g.calibration in ("more bads than expected", "fewer bads than expected"):
            findings.append(
                f"{g.attribute} '{g.group}': {g.observed_bad_rate:.2%} went bad against "
                f"{g.predicted_bad_rate:.2%} predicted ({g.calibration}, z {g.calibration_z:+.2f})"
            )
    return findings


def fairness_figures(
    bad: npt.ArrayLike,
    score: npt.ArrayLike,
    probability_of_bad: npt.ArrayLike,
    groups: Mapping[str, Sequence[str]],
    cutoffs: Sequence[Cutoff],
    min_group: int = MIN_GROUP,
    orders: Mapping[str, Sequence[str]] | None = None,
) -> FairnessFigures:
    """The figures per group of each attribute in `groups` (one label per person; '' for a
    person outside the attribute, such as an unknown). Groups come in `orders` order where
    given, then sorted."""
    if min_group < 1:
        raise ValueError("min_group must be at least 1")
    y = np.asarray(bad, dtype=np.int64)
    s = np.asarray(score, dtype=np.int64)
    p = np.asarray(probability_of_bad, dtype=np.float64)
    if not (y.shape == s.shape == p.shape) or y.ndim != 1:
        raise ValueError("bad, score and probability_of_bad must be 1-D of equal length")
    figures: list[GroupFigures] = []
    for attribute, labels in groups.items():
        label = np.asarray(labels, dtype=object)
        if label.shape != y.shape:
            raise ValueError(f"{attribute} needs one label per person")
        present = sorted({str(v) for v in label if v})
        order = [g for g in (orders or {}).get(attribute, ()) if g in present]
        order += [g for g in present if g not in order]
        attribute_groups: list[GroupFigures] = []
        for name in order:
            rows = label == name
            if int(rows.sum()) < min_group:
                attribute_groups.append(
                    GroupFigures(attribute=attribute, group=name, suppressed=True)
                )
                continue
            attribute_groups.append(_group(attribute, name, y[rows], s[rows], p[rows], cutoffs))
        figures += _with_ratios(attribute_groups, cutoffs)
    return FairnessFigures(
        people=len(y),
        min_group=min_group,
        cutoffs=tuple(cutoffs),
        groups=tuple(figures),
        findings=tuple(_findings(figures)),
    )


class FairnessReport(FrozenRecord):
    """`kaimen fairness` for one model and one month whose outcomes are known: the figures,
    what each one is, and what the report leaves out."""

    format: Literal["kaimen.fairness"]
    model: str
    kind: str
    month: str
    outcomes: str
    generated_at: str
    figures: FairnessFigures
    method: tuple[str, ...]

    def to_json(self) -> str:
        document = self.model_dump(mode="json")
        return json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> FairnessReport:
        return cls.model_validate_json(text)
