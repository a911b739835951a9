"""Model quality on real data: kaimen's scorecard on the German credit data (run by hand).

    .venv/bin/python benchmarks/model_quality.py [--peers /tmp/peers-venv/bin/python]
    .venv/bin/python benchmarks/model_quality.py --random-state 1  # other splits; writes nothing

The protocol is the one data/README.md defines, with its anchor figures: target bad = 1;
RepeatedStratifiedKFold(n_splits=5, n_repeats=5, random_state=20240601), 25 held-out folds;
binning, selection and regression all fitted inside each training fold; AUC and KS on the
held-out fold; mean and standard deviation over the 25 folds. kaimen is judged on the integer
score its card gives (the sum of the points), not on a probability. Every card is also checked:
within each characteristic, a bin with a higher training bad rate never has more points.

The headline is kaimen's scorecard with six characteristics an analyst derives from the raw
attributes before modelling (`derive`). The list was fixed, with its reasons, before any of them
was measured:

- monthly_instalment = credit_amount / duration_in_month: what the applicant pays each month,
  the burden the amount and the duration only describe separately.
- income_proxy = monthly_instalment / installment_rate_in_percentage_of_disposable_income: the
  rate is the instalment as a share of disposable income, so this ratio is proportional to
  disposable income, the capacity the data set does not record directly.
- amount_per_year_of_age = credit_amount / age_in_years: the loan's size against the
  applicant's stage of life (a large loan at 20 is not a large loan at 50).
- checking_x_history: checking-account status crossed with credit history, one categorical
  characteristic whose bins read as table rows ("no checking account | critical account"),
  for the two strongest attributes, whose effects need not add up.
- checking_x_savings: checking-account status crossed with savings, the applicant's liquidity
  as one reading (no checking account with savings is not the same as neither).
- red_flags: how many of six classic warning signs the applicant shows: a negative checking
  balance, savings under 100 DM, unemployed or employed under a year, instalment plans
  elsewhere (bank or stores), no property, past delays in paying.

Each is computed per row from that row's attributes alone (nothing fitted, so nothing leaks
from a held-out fold) and enters the card as any other characteristic: binned (monotone, the
direction chosen by IV; a cross is a categorical characteristic) and given integer points. The
headline also lets a bin of categories hold 3% of rows (`categorical_min_share=0.03`; numbers
keep 5%), since a small bin of named categories stays readable where a thin numeric range is
noise, and raises the WoE-correlation bar for dropping a characteristic from 0.8 to 0.9
(`max_correlation`), so a cross does not push out the attributes it crosses.

How that was chosen: only on other splits of the data, RepeatedStratifiedKFold(5, 5) with
random_state 1, 2 and 3, never on the official folds, which then ran the chosen configuration
once. Mean AUC of the integer score over the 3 x 25 exploration folds:

| configuration | rs 1 | rs 2 | rs 3 | mean |
|---|---|---|---|---|
| library defaults | 0.7888 | 0.7878 | 0.7909 | 0.7892 |
| library defaults, max_correlation 0.9 | 0.7888 | 0.7878 | 0.7909 | 0.7892 |
| categorical min share 0.02 | 0.7911 | 0.7896 | 0.7919 | 0.7909 |
| categorical min share 0.03 | 0.7912 | 0.7897 | 0.7919 | 0.7909 |
| + monthly_instalment only | 0.7932 | 0.7932 | 0.7952 | 0.7939 |
| + income_proxy only | 0.7937 | 0.7931 | 0.7954 | 0.7941 |
| + amount_per_year_of_age only | 0.7880 | 0.7872 | 0.7906 | 0.7886 |
| + checking_x_history only | 0.7897 | 0.7865 | 0.7908 | 0.7890 |
| + checking_x_savings only | 0.7889 | 0.7873 | 0.7905 | 0.7889 |
| + red_flags only | 0.7887 | 0.7879 | 0.7913 | 0.7893 |
| + the four numeric ones, categorical 0.03 | 0.7938 | 0.7934 | 0.7967 | 0.7947 |
| + monthly_instalment and income_proxy, categorical 0.03 | 0.7948 | 0.7938 | 0.7961 | 0.7949 |
| + all six | 0.7947 | 0.7948 | 0.7978 | 0.7957 |
| + all six, categorical 0.02 | 0.7971 | 0.7954 | 0.7988 | 0.7971 |
| + all six, categorical 0.03 | 0.7974 | 0.7956 | 0.7989 | 0.7973 |
| + all six, categorical 0.02, min_iv 0 | 0.7965 | 0.7949 | 0.7983 | 0.7966 |
| + all six, max_correlation 0.9 | 0.7964 | 0.7962 | 0.7992 | 0.7973 |
| **+ all six, categorical 0.03, max_correlation 0.9 (chosen)** | 0.7984 | 0.7970 | 0.8007 | 0.7987 |
| + all six, categorical 0.02, max_correlation 0.9 | 0.7980 | 0.7970 | 0.8008 | 0.7986 |
| + all six, categorical 0.03, max_correlation 0.95 | 0.7984 | 0.7971 | 0.8007 | 0.7987 |

Every one of these cards, in every fold, gave points agreeing with bad rates. The chosen one is
the simplest of the three best (0.95 changes nothing; 0.02 is no better). All splits are of the
same 1,000 rows, so the search still learned from this data: the official figure is a held-out
estimate of the chosen configuration, not of the search that picked it (20 configurations).

Other rows, for information: kaimen with its library defaults on the raw attributes (the
former headline), the headline and the defaults without the two attributes that describe sex
and marital status or nationality, and the defaults with L2 chosen by inner cross-validation,
with the previous default (no L2), with every characteristic kept whatever its information
value, and the headline and the defaults under the former selection rule (a fixed information
value floor of 0.02, which issue 14 replaced by what a weak characteristic adds to held-out AUC
in an inner cross-validation). `--peers PYTHON` also runs optbinning and scikit-learn on the very same folds in another
environment (benchmarks/model_quality_peers.py) and compares them fold by fold with the
headline. `--random-state N` runs every row on other splits and only prints.

Results go to benchmarks/results/model_quality.md and .json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from pyarrow import csv
from sklearn.model_selection import RepeatedStratifiedKFold

from kaimen.domain.scores import FACTOR, Dimension
from kaimen.model.binning import CharacteristicSpec
from kaimen.model.evaluation import auc, ks
from kaimen.model.scorecard import Scorecard, fit_scorecard, published_score, raw_score

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
DATA = REPO / "data" / "german_credit.csv"
DATA_README = REPO / "data" / "README.md"
RESULTS = ROOT / "results"
SEED = 20240601
GOAL_AUC = 0.80

# Where each attribute would sit among kaimen's dimensions. Only the card's sub-scores use it.
DIMENSIONS = {
    "status_of_existing_checking_account": Dimension.CAPACITY,
    "duration_in_month": Dimension.BEHAVIOUR,
    "credit_history": Dimension.CREDIT_HISTORY,
    "purpose": Dimension.BEHAVIOUR,
    "credit_amount": Dimension.BEHAVIOUR,
    "savings_account_and_bonds": Dimension.CAPACITY,
    "present_employment_since": Dimension.CAPACITY,
    "installment_rate_in_percentage_of_disposable_income": Dimension.CAPACITY,
    "personal_status_and_sex": Dimension.IDENTITY,
    "other_debtors_or_guarantors": Dimension.CREDIT_HISTORY,
    "present_residence_since": Dimension.IDENTITY,
    "property": Dimension.CAPACITY,
    "age_in_years": Dimension.IDENTITY,
    "other_installment_plans": Dimension.CREDIT_HISTORY,
    "housing": Dimension.IDENTITY,
    "number_of_existing_credits_at_this_bank": Dimension.CREDIT_HISTORY,
    "job": Dimension.CAPACITY,
    "number_of_people_being_liable_to_provide_maintenance_for": Dimension.CAPACITY,
    "telephone": Dimension.IDENTITY,
    "foreign_worker": Dimension.IDENTITY,
}
# Sex and marital status, and nationality: protected in most credit laws.
PROTECTED = ("personal_status_and_sex", "foreign_worker")
# The characteristics `derive` adds (see the module doc), with their dimension and kind.
DERIVED = {
    "monthly_instalment": (Dimension.CAPACITY, "numeric"),
    "income_proxy": (Dimension.CAPACITY, "numeric"),
    "amount_per_year_of_age": (Dimension.CAPACITY, "numeric"),
    "checking_x_history": (Dimension.CREDIT_HISTORY, "categorical"),
    "checking_x_savings": (Dimension.CAPACITY, "categorical"),
    "red_flags": (Dimension.CREDIT_HISTORY, "numeric"),
}

# The former headline, against which the derived characteristics are paired fold by fold.
BASELINE = "kaimen scorecard, library defaults (raw attributes only)"
Features = dict[str, np.ndarray]
Fit = Callable[[Features, np.ndarray, list[CharacteristicSpec]], Scorecard]


@dataclass
class Variant:
    name: str
    fit: Fit
    drop: tuple[str, ...] = ()
    derived: bool = False
    headline: bool = False
    auc: list[float] = field(default_factory=list)
    ks: list[float] = field(default_factory=list)
    published_auc: list[float] = field(default_factory=list)
    unrounded_auc: list[float] = field(default_factory=list)
    characteristics: list[int] = field(default_factory=list)
    agreeing_cards: int = 0
    seconds: float = 0.0


def load() -> tuple[Features, np.ndarray, list[CharacteristicSpec]]:
    """Features (text columns categorical, the rest numeric), bad flags and specs."""
    table = csv.read_csv(DATA)
    bad = (table.column("creditability").to_numpy(zero_copy_only=False) == "bad").astype(np.int64)
    features: Features = {}
    specs: list[CharacteristicSpec] = []
    for name in table.column_names:
        if name == "creditability":
            continue
        column = table.column(name)
        if pa.types.is_string(column.type):
            features[name] = column.to_numpy(zero_copy_only=False).astype(object)
            specs.append(CharacteristicSpec(name, DIMENSIONS[name], kind="categorical"))
        else:
            features[name] = column.to_numpy().astype(np.float64)
            specs.append(CharacteristicSpec(name, DIMENSIONS[name], "auto"))
    features |= derive(features)
    for name, (dimension, kind) in DERIVED.items():
        specs.append(CharacteristicSpec(name, dimension, kind=kind))  # type: ignore[arg-type]
    return features, bad, specs


def derive(features: Features) -> Features:
    """The characteristics of DERIVED, each computed from its own row's attributes only."""
    amount = features["credit_amount"]
    duration = features["duration_in_month"]
    rate = features["installment_rate_in_percentage_of_disposable_income"]
    checking = features["status_of_existing_checking_account"]
    history = features["credit_history"]
    savings = features["savings_account_and_bonds"]

    def cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.array([f"{x} | {y}" for x, y in zip(a, b, strict=True)], dtype=object)

    flags = [
        checking == "... < 0 DM",
        savings == "... < 100 DM",
        np.isin(features["present_employment_since"], ["unemployed", "... < 1 year"]),
        features["other_installment_plans"] != "none",
        features["property"] == "unknown / no property",
        history == "delay in paying off in the past",
    ]
    derived = {
        "monthly_instalment": amount / duration,
        "income_proxy": amount / duration / rate,
        "amount_per_year_of_age": amount / features["age_in_years"],
        "checking_x_history": cross(checking, history),
        "checking_x_savings": cross(checking, savings),
        "red_flags": np.sum(flags, axis=0).astype(np.float64),
    }
    assert derived.keys() == DERIVED.keys()
    return derived


def anchors() -> list[tuple[str, float, float]]:
    """The anchor table of data/README.md: method, mean AUC, KS."""
    rows = re.findall(r"^\| ([^|]+?) \| (0\.\d+) \| (0\.\d+) \|$", DATA_README.read_text(), re.M)
    if not rows:
        raise SystemExit(f"no anchor figures found in {DATA_README}")
    return [(method, float(a), float(k)) for method, a, k in rows]


def points_follow_bad_rates(card: Scorecard) -> bool:
    """Within every characteristic, a higher training bad rate never has more points."""
    for c in card.characteristics:
        rows = [(b / n, p) for n, b, p in zip(c.counts, c.bads, c.points, strict=True) if n]
        if c.missing_count:
            rows.append((c.missing_bads / c.missing_count, c.missing_points))
        rates = np.array([r for r, _ in rows])
        points = np.array([p for _, p in rows])
        riskier = rates[:, None] > rates[None, :]
        if (points[:, None] > points[None, :])[riskier].any():
            return False
    return True


def unrounded(card: Scorecard, features: Features, rows: np.ndarray) -> np.ndarray:
    """The logistic score the integer points round: -FACTOR * logit, less a constant."""
    total = np.zeros(rows.size)
    for c in card.characteristics:
        woe = np.append(np.array(c.woe), c.missing_woe)
        total -= FACTOR * c.coefficient * woe[c.bin_index(features[c.name][rows])]
    return total


def variants() -> list[Variant]:
    def defaults(f: Features, y: np.ndarray, s: list[CharacteristicSpec]) -> Scorecard:
        return fit_scorecard(f, y, s, version="benchmark", training={})

    def cv(f: Features, y: np.ndarray, s: list[CharacteristicSpec]) -> Scorecard:
        return fit_scorecard(f, y, s, version="benchmark", training={}, l2="cv")

    def no_l2(f: Features, y: np.ndarray, s: list[CharacteristicSpec]) -> Scorecard:
        return fit_scorecard(f, y, s, version="benchmark", training={}, l2=0.0)

    def every(f: Features, y: np.ndarray, s: list[CharacteristicSpec]) -> Scorecard:
        return fit_scorecard(f, y, s, version="benchmark", training={}, min_iv=0.0)

    def chosen(f: Features, y: np.ndarray, s: list[CharacteristicSpec]) -> Scorecard:
        return fit_scorecard(
            f,
            y,
            s,
            version="benchmark",
            training={},
            categorical_min_share=0.03,
            max_correlation=0.9,
        )

    def chosen_floor(f: Features, y: np.ndarray, s: list[CharacteristicSpec]) -> Scorecard:
        return fit_scorecard(
            f,
            y,
            s,
            version="benchmark",
            training={},
            categorical_min_share=0.03,
            max_correlation=0.9,
            min_iv=0.02,
        )

    def floor(f: Features, y: np.ndarray, s: list[CharacteristicSpec]) -> Scorecard:
        return fit_scorecard(f, y, s, version="benchmark", training={}, min_iv=0.02)

    headline = (
        "kaimen scorecard, derived characteristics (categorical min share 0.03, "
        "max correlation 0.9)"
    )
    return [
        Variant(headline, chosen, derived=True, headline=True),
        Variant(
            "kaimen, derived characteristics, without sex/marital status and foreign-worker status",
            chosen,
            PROTECTED,
            derived=True,
        ),
        Variant(
            "kaimen, derived characteristics, former selection (fixed IV floor 0.02)",
            chosen_floor,
            derived=True,
        ),
        Variant(BASELINE, defaults),
        Variant("kaimen, library defaults, former selection (fixed IV floor 0.02)", floor),
        Variant(
            "kaimen, library defaults, without sex/marital status and foreign-worker status",
            defaults,
            PROTECTED,
        ),
        Variant("kaimen, L2 chosen by inner 5-fold CV in each training fold", cv),
        Variant("kaimen, previous default (no L2)", no_l2),
        Variant("kaimen, every characteristic kept (min_iv=0)", every),
    ]


def run(
    features: Features, bad: np.ndarray, specs: list[CharacteristicSpec], random_state: int
) -> list[Variant]:
    folds = list(
        RepeatedStratifiedKFold(n_splits=5, n_repeats=5, random_state=random_state).split(
            np.zeros(bad.size), bad
        )
    )
    chosen = variants()
    for number, (train, test) in enumerate(folds, start=1):
        for v in chosen:
            kept = [
                s for s in specs if s.name not in v.drop and (v.derived or s.name not in DERIVED)
            ]
            started = time.perf_counter()
            card = v.fit({s.name: features[s.name][train] for s in kept}, bad[train], kept)
            v.seconds += time.perf_counter() - started
            score = raw_score(card, {s.name: features[s.name][test] for s in kept})
            v.auc.append(auc(bad[test], score))
            v.ks.append(ks(bad[test], score))
            v.published_auc.append(auc(bad[test], published_score(score)))
            v.unrounded_auc.append(auc(bad[test], unrounded(card, features, test)))
            v.characteristics.append(len(card.characteristics))
            v.agreeing_cards += points_follow_bad_rates(card)
        print(f"fold {number}/{len(folds)}", file=sys.stderr, flush=True)
    return chosen


def peers(python: str) -> dict[str, dict[str, list[float]]]:
    """Per-fold AUC and KS of the peer methods, from the other environment."""
    done = subprocess.run(
        [python, str(ROOT / "model_quality_peers.py"), "--data", str(DATA), "--seed", str(SEED)],
        stdout=subprocess.PIPE,
        check=True,
        text=True,
    )
    methods: dict[str, dict[str, list[float]]] = json.loads(done.stdout)["methods"]
    return methods


def machine() -> dict[str, Any]:
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = re.findall(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.M)
        model = names[0] if names else model
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "--", "src"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": model,
        "cores": os.cpu_count(),
        "system": platform.platform(),
        "python": platform.python_version(),
        "versions": {p: version(p) for p in ("kaimen", "numpy", "scikit-learn", "pyarrow")},
        "commit": commit + (" with uncommitted changes in src/" if dirty else ""),
    }


def figures(values: list[float]) -> dict[str, float]:
    return {"mean": float(np.mean(values)), "std": float(np.std(values))}


def report(
    results: list[Variant],
    peer_results: Mapping[str, Mapping[str, list[float]]],
    about: Mapping[str, Any],
    command: str,
    random_state: int = SEED,
) -> tuple[str, dict[str, Any]]:
    headline = next(v for v in results if v.headline)
    lines = [
        "# Model quality on real data: German credit",
        "",
        f"Statlog German credit data (data/german_credit.csv, 1,000 applicants, 300 bad); "
        f"RepeatedStratifiedKFold(n_splits=5, n_repeats=5, random_state={random_state}), 25 "
        "held-out "
        "folds, everything fitted inside each training fold. kaimen's AUC and KS are those of "
        "the card's integer score (the sum of its points); the anchors are the figures "
        "data/README.md gives for each library's documented default usage.",
        "",
        f"{about['date']}; {about['cpu']}, {about['cores']} cores; {about['system']}; "
        f"Python {about['python']}; "
        + ", ".join(f"{p} {v}" for p, v in about["versions"].items())
        + f"; commit {about['commit']}.",
        "",
        f"Command: `{command}`",
        "",
        "| method | mean AUC | std AUC | mean KS | std KS |",
        "|---|---|---|---|---|",
    ]
    table: list[tuple[float, str]] = []
    for v in results:
        a, k = figures(v.auc), figures(v.ks)
        name = f"**{v.name}**" if v.headline else v.name
        row = f"| {name} | {a['mean']:.4f} | {a['std']:.4f} | {k['mean']:.3f} | {k['std']:.3f} |"
        table.append((a["mean"], row))
    for method, a_mean, k_mean in anchors():
        table.append((a_mean, f"| anchor: {method} | {a_mean:.4f} | | {k_mean:.3f} | |"))
    lines += [row for _, row in sorted(table, key=lambda t: -t[0])]
    a = figures(headline.auc)
    verdict = "reached" if a["mean"] >= GOAL_AUC else "not reached"
    baseline = next(v for v in results if v.name == BASELINE)
    gain = np.array(headline.auc) - np.array(baseline.auc)

    def each(figure: Callable[[Any], str]) -> str:
        """One figure per variant, as "name: figure; ..."."""
        return "; ".join(f"{v.name}: {figure(v)}" for v in results) + "."

    lines += [
        "",
        f"- Goal mean AUC >= {GOAL_AUC:.2f}: **{verdict}** ({a['mean']:.4f}).",
        f"- Headline minus {BASELINE}, fold by fold: AUC {gain.mean():+.4f} (std "
        f"{gain.std():.4f}), higher on {(gain > 0).sum()}/{gain.size} folds.",
        "- Points agree with bad rates: "
        + each(lambda v: f"{v.agreeing_cards}/{len(v.auc)} cards"),
        "- Characteristics on the card (mean over folds): "
        + each(lambda v: f"{np.mean(v.characteristics):.1f}"),
        "- AUC of the published score (clipped to 350-950; on this population, far riskier "
        "than the scale's anchor of 30:1 odds at 600, many people sit at 350): "
        + each(lambda v: f"{np.mean(v.published_auc):.4f}"),
        "- AUC of the unrounded score (what rounding each bin's points to an integer costs): "
        + each(lambda v: f"{np.mean(v.unrounded_auc):.4f}"),
        "- Fitting time for 25 folds: " + each(lambda v: f"{v.seconds:.1f} s"),
    ]
    lines += [
        "",
        "How the defaults were chosen: once, for the library, never on these folds. The only "
        "default that changed is the L2 penalty of the regression, from none to 1 (a unit "
        "Gaussian prior on each WoE coefficient, scikit-learn's own default), for stability on "
        "small or collinear samples; it was compared on other splits of this data "
        "(random_state 1, 2 and 3), where L2 chosen by inner cross-validation did no better. "
        "Finer bins (min_share 0.02) with every characteristic kept gained 0.002-0.004 "
        "there, about one standard error, and give longer, harder-to-read cards, so the "
        "binning defaults (max 8 bins, at least 5% of rows per bin) stay.",
        "",
        "Selection (issue 14): a characteristic with IV at least 0.02 stays; each weaker one, "
        "in IV order, joins when it raises the held-out AUC of 5-fold cross-validation inside "
        "the training fold by more than 0.0005 (kaimen.model.scorecard._select_by_cv). The "
        "former rule dropped every characteristic under IV 0.02; its rows above show the "
        "change. Rules that also let cross-validation drop strong characteristics lost "
        "0.004-0.011 of AUC on random_state 1 and were not kept.",
        "",
        "How the headline was chosen: its six derived characteristics (monthly instalment, a "
        "disposable-income proxy, amount per year of age, checking account x credit history, "
        "checking account x savings, a count of six red flags) were listed with their reasons "
        "before any was measured (benchmarks/model_quality.py, module doc); each is computed "
        "from its own row alone and binned and pointed like any other characteristic. Among "
        "20 configurations compared only on other splits (random_state 1, 2 and 3), adding all "
        "six with bins of categories allowed down to 3% of rows and a correlation bar of 0.9 "
        "did best: mean AUC 0.7984 / 0.7970 / 0.8007 (mean 0.7987) against 0.7888 / 0.7878 / "
        "0.7909 (0.7892) for the library defaults. These folds then ran it once. "
        "`categorical_min_share` is a fit_scorecard setting (numbers keep min_share 0.05).",
    ]
    document: dict[str, Any] = {
        "protocol": {
            "data": "data/german_credit.csv",
            "folds": "5x5",
            "random_state": random_state,
        },
        "machine": dict(about),
        "command": command,
        "kaimen": {
            v.name: {
                "auc": figures(v.auc),
                "ks": figures(v.ks),
                "published_auc": figures(v.published_auc),
                "unrounded_auc": figures(v.unrounded_auc),
                "folds": {"auc": v.auc, "ks": v.ks},
                "agreeing_cards": v.agreeing_cards,
                "seconds": round(v.seconds, 2),
            }
            for v in results
        },
        "anchors": [{"method": m, "auc": a_, "ks": k_} for m, a_, k_ in anchors()],
        "peers": {},
    }
    if peer_results:
        lines += [
            "",
            "## Paired with peers on the same folds",
            "",
            f"Difference per fold, {headline.name} minus the peer (positive: kaimen better).",
            "",
            "| peer | its mean AUC | its mean KS | AUC difference mean | std | "
            "folds kaimen's AUC is higher |",
            "|---|---|---|---|---|---|",
        ]
        for method, r in peer_results.items():
            diff = np.array(headline.auc) - np.array(r["auc"])
            lines.append(
                f"| {method} | {np.mean(r['auc']):.4f} | {np.mean(r['ks']):.3f} | "
                f"{diff.mean():+.4f} | {diff.std():.4f} | {(diff > 0).sum()}/{diff.size} |"
            )
            document["peers"][method] = {
                "auc": figures(r["auc"]),
                "ks": figures(r["ks"]),
                "folds": dict(r),
                "auc_difference": figures(list(diff)),
            }
    return "\n".join(lines) + "\n", document


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--peers", metavar="PYTHON", help="a Python with optbinning, to compare on the same folds"
    )
    parser.add_argument(
        "--random-state",
        type=int,
        default=SEED,
        help=f"other splits than the official {SEED}, for exploration; then nothing is written",
    )
    options = parser.parse_args()
    official = options.random_state == SEED
    if options.peers and not official:
        parser.error("--peers runs on the official folds only")
    about = machine()
    features, bad, specs = load()
    results = run(features, bad, specs, options.random_state)
    peer_results = peers(options.peers) if options.peers else {}
    command = shlex.join([".venv/bin/python", "benchmarks/model_quality.py", *sys.argv[1:]])
    text, document = report(results, peer_results, about, command, options.random_state)
    print(text)
    if not official:
        return
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "model_quality.md").write_text(text)
    (RESULTS / "model_quality.json").write_text(json.dumps(document, indent=2) + "\n")


if __name__ == "__main__":
    main()
