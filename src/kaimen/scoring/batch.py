"""`kaimen score --month YYYY-MM`: score every enrolled person and publish the month at once.

Features are built in the engine for the whole population; the champion, of whichever kind
(`scoring.models.ScoringModel`), gives points, dimension sub-scores and reasons vectorised over
people. All snapshots and the run's publication row are written in one transaction: a crash
leaves the previous month visible, and a re-run completes. A month already published with the
same model is left as it is.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ibis
import numpy as np
import pyarrow.compute as pc
from sqlalchemy import Engine

from kaimen.domain.scores import band_of
from kaimen.features.build import build_features
from kaimen.features.catalogue import Window
from kaimen.features.summary_build import refresh_summaries
from kaimen.model.scorecard import published_score
from kaimen.scoring.models import NoModel, load_model, wrap
from kaimen.scoring.training import feature_arrays, summary_paths
from kaimen.store import audit, people, scores
from kaimen.telemetry.steps import note_step, timed_step

__all__ = ["NoModel", "ScoreReport", "load_model", "score_month"]


@dataclass(frozen=True)
class ScoreReport:
    month: str
    model_version: str
    people: int
    scored: int
    thin_files: int
    already_published: bool
    bands: dict[str, int]


def _reason_list(
    names_and_losses: list[tuple[str, int]], values: dict[str, np.ndarray], row: int
) -> list[dict[str, Any]]:
    out = []
    for name, lost in names_and_losses:
        value = float(values[name][row])
        out.append(
            {
                "feature": name,
                "points_lost": int(lost),
                "value": None if math.isnan(value) else value,
            }
        )
    return out


@timed_step("score")
def score_month(
    engine: Engine,
    backend: ibis.BaseBackend,
    lake_root: Path,
    month: str,
    actor: str,
    now: dt.datetime | None = None,
    model_version: str | None = None,
) -> ScoreReport:
    """Score everyone enrolled as of the end of `month` and publish the snapshots."""
    now = now or dt.datetime.now(dt.UTC)
    Window(month)  # validates the month
    version, loaded = load_model(engine, model_version)
    model = wrap(loaded)
    note_step(month=month, model=version)
    with engine.connect() as store:
        if scores.is_published(store, month, version):
            return ScoreReport(month, version, 0, 0, 0, True, {})
        enrolled = people.active_birth_dates(store).select(["person_id"])
    refresh_summaries(engine, backend, lake_root, now)
    with timed_step("build_features"):
        features = build_features(backend, summary_paths(engine, lake_root), month)
    table = enrolled.join(features, "person_id", join_type="left outer").sort_by("person_id")
    thin = pc.fill_null(table.column("thin_file"), True).to_numpy(zero_copy_only=False)
    values = feature_arrays(table)
    scored = model.score(values)
    per_characteristic = scored.points
    published = published_score(scored.raw)
    dimensions = {d.value: np.rint(v).astype(np.int64) for d, v in scored.dimensions.items()}
    why = scored.reasons
    ids = table.column("person_id").to_pylist()
    rows: list[dict[str, Any]] = []
    bands: dict[str, int] = {}
    for i, person_id in enumerate(ids):
        if thin[i]:
            rows.append(
                {
                    "person_id": person_id,
                    "month": month,
                    "model_version": version,
                    "score": None,
                    "band": None,
                    "thin_file": 1,
                    "reasons": "[]",
                    "points": "{}",
                    **dict.fromkeys(scores.DIMENSIONS),
                }
            )
            continue
        band = band_of(int(published[i])).name
        bands[band] = bands.get(band, 0) + 1
        rows.append(
            {
                "person_id": person_id,
                "month": month,
                "model_version": version,
                "score": int(published[i]),
                "band": band,
                "thin_file": 0,
                "reasons": json.dumps(_reason_list(why[i], values, i)),
                "points": json.dumps(
                    dict(zip(model.names, per_characteristic[i].tolist(), strict=True))
                ),
                **{d: int(dimensions[d][i]) for d in scores.DIMENSIONS},
            }
        )
    with timed_step("publish"), engine.begin() as store:
        note_step(people=len(rows), thin_files=int(thin.sum()))
        scores.publish(store, month, version, rows, now)
        audit.append(
            store,
            actor,
            "scores.published",
            subject=month,
            details={"model": version, "people": len(rows), "thin_files": int(thin.sum())},
            now=now,
        )
    return ScoreReport(
        month,
        version,
        len(rows),
        len(rows) - int(thin.sum()),
        int(thin.sum()),
        False,
        dict(sorted(bands.items())),
    )
