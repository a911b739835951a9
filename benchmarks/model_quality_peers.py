"""Peer methods on the folds of benchmarks/model_quality.py (run by model_quality.py --peers).

Runs in a separate environment that has optbinning, pandas and scikit-learn; kaimen never
depends on them and this script never imports kaimen:

    python -m venv /tmp/peers-venv && /tmp/peers-venv/bin/pip install optbinning
    .venv/bin/python benchmarks/model_quality.py --peers /tmp/peers-venv/bin/python

Each method is used as its documentation shows, with default settings, and judged on the
probability it predicts. Prints one JSON document: per method, the AUC and KS of every fold, in
the order RepeatedStratifiedKFold yields them.
"""

from __future__ import annotations

import argparse
import json
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
from optbinning import BinningProcess, Scorecard
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.model_selection import RepeatedStratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


def ks(bad: np.ndarray, p_bad: np.ndarray) -> float:
    """The largest gap between the cumulative distributions of bads and goods."""
    fpr, tpr, _ = roc_curve(bad, p_bad)
    return float(np.max(tpr - fpr))


def optbinning_scorecard(categorical: list[str], numeric: list[str]) -> Scorecard:
    process = BinningProcess(numeric + categorical, categorical_variables=categorical)
    return Scorecard(binning_process=process, estimator=LogisticRegression())


def one_hot_logistic(categorical: list[str], numeric: list[str]) -> object:
    columns = ColumnTransformer(
        [
            ("categories", OneHotEncoder(handle_unknown="ignore"), categorical),
            ("numbers", StandardScaler(), numeric),
        ]
    )
    return make_pipeline(columns, LogisticRegression(max_iter=1000))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--seed", type=int, required=True)
    options = parser.parse_args()

    frame = pd.read_csv(options.data)
    bad = (frame.pop("creditability") == "bad").astype(int).to_numpy()
    categorical = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    numeric = [c for c in frame.columns if c not in categorical]
    methods = {
        f"optbinning {version('optbinning')} (BinningProcess + Scorecard, defaults)": (
            optbinning_scorecard
        ),
        f"scikit-learn {version('scikit-learn')} LogisticRegression, one-hot": one_hot_logistic,
    }
    folds = RepeatedStratifiedKFold(n_splits=5, n_repeats=5, random_state=options.seed)
    results: dict[str, dict[str, list[float]]] = {name: {"auc": [], "ks": []} for name in methods}
    for fold, (train, test) in enumerate(folds.split(frame, bad)):
        for name, build in methods.items():
            model = build(categorical, numeric)
            model.fit(frame.iloc[train], bad[train])  # type: ignore[attr-defined]
            p_bad = model.predict_proba(frame.iloc[test])[:, 1]  # type: ignore[attr-defined]
            results[name]["auc"].append(float(roc_auc_score(bad[test], p_bad)))
            results[name]["ks"].append(ks(bad[test], p_bad))
        print(f"peers: fold {fold + 1}/25", file=sys.stderr, flush=True)
    json.dump({"methods": results}, sys.stdout)


if __name__ == "__main__":
    main()
