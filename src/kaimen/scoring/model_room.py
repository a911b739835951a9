"""The analyst's model room: what the web app's model card shows, from the same sources as
`kaimen models` and `kaimen monitor`.

- **Champion against challenger**: the registered models trained together, with the
  out-of-time AUC, KS, Gini and bad rate by band that training recorded.
- **ROC and KS curves**: the out-of-time month rebuilt from the lake (the rows training judged
  the models on) and scored by each model. The rebuild costs a feature pass over one month,
  so its curves are kept per process for the models' exact artifacts and the lake's summaries.
- **Score distribution**: the latest month published with the champion, in 25-point bins.
- **Stability month by month**: the score PSI of every month published with the champion,
  against the training rows' bands (as `kaimen monitor` measures it); the characteristics'
  PSIs come from the latest card `kaimen monitor` wrote, when there is one.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import ibis
import numpy as np
from pydantic import ValidationError
from sqlalchemy import Engine

from kaimen.domain.model_metrics import BandOutcome, Comparison, Evaluation
from kaimen.domain.scores import SCORE_MAX, SCORE_MIN
from kaimen.model import evaluation
from kaimen.model.model_card import ModelCard
from kaimen.model.scorecard import published_score
from kaimen.model.stability import Level, score_stability
from kaimen.scoring.datasets import feature_arrays, labelled_examples
from kaimen.scoring.lake_summaries import summary_paths
from kaimen.scoring.models import NoModel, read_artifact, wrap
from kaimen.scoring.training import people_rows
from kaimen.store import model_registry, scores
from kaimen.store.model_registry import ModelRecord

# The score distribution's bins: 350-374, ..., 925-950 (the last one takes 950 in).
BIN_WIDTH = 25
# Curve sets kept per process: one per trained pair of models is all a page asks for.
KEPT_CURVES = 4


@dataclass(frozen=True)
class RocCurve:
    """One model's out-of-time ROC: shares of goods and of bads at or below each cut-off."""

    version: str
    kind: str
    goods: tuple[float, ...]
    bads: tuple[float, ...]
    area: float


@dataclass(frozen=True)
class KsCurve:
    """The champion's out-of-time KS chart, and where the gap is widest."""

    cut_offs: tuple[int, ...]
    bads: tuple[float, ...]
    goods: tuple[float, ...]
    ks: float
    at: int


@dataclass(frozen=True)
class Curves:
    out_of_time: str
    rows: int
    roc: tuple[RocCurve, ...]
    ks: KsCurve


@dataclass(frozen=True)
class ScoreBin:
    low: int
    high: int
    people: int


@dataclass(frozen=True)
class Distribution:
    month: str
    scored: int
    bins: tuple[ScoreBin, ...]


@dataclass(frozen=True)
class MonthStability:
    """The score PSI of one published month against the training rows' bands."""

    month: str
    scored: int
    psi: float
    level: Level


@dataclass(frozen=True)
class RoomModel:
    """A registered model as the room lists it."""

    version: str
    kind: str
    champion: bool
    as_of: str
    out_of_time: Evaluation | None


@dataclass(frozen=True)
class ModelRoom:
    champion: RoomModel
    compared: tuple[RoomModel, ...]  # the models trained with the champion, champion first
    comparison: Comparison | None
    curves: Curves | None
    curves_unavailable: str | None
    distribution: Distribution | None
    stability: tuple[MonthStability, ...]
    training_bands: tuple[BandOutcome, ...]
    card: ModelCard | None  # the latest card `kaimen monitor` wrote for the champion


def _room_model(record: ModelRecord) -> RoomModel:
    return RoomModel(
        record.version, record.kind, record.champion, record.as_of, record.metrics.out_of_time
    )


_kept: dict[tuple[object, ...], Curves] = {}
_keeping = threading.Lock()


def _curves(
    backend: ibis.BaseBackend,
    paths: list[Path],
    records: list[ModelRecord],
    out_of_time: str,
    lake_root: Path,
) -> Curves:
    key = (out_of_time, *((r.version, r.sha256) for r in records), *map(str, paths))
    with _keeping:
        if key in _kept:
            return _kept[key]
    # The people training held out, as the recorded out-of-time AUC and KS were measured on.
    table = people_rows(labelled_examples(backend, paths, out_of_time, records[0].as_of), True)
    bad = table.column("bad").to_numpy(zero_copy_only=False).astype(np.int64)
    values = feature_arrays(table)
    roc: list[RocCurve] = []
    ks_curve: KsCurve | None = None
    for record in records:
        published = published_score(wrap(read_artifact(record, lake_root)).raw_scores(values))
        goods, bads = evaluation.roc_points(bad, published)
        roc.append(
            RocCurve(
                record.version,
                record.kind,
                tuple(goods.tolist()),
                tuple(bads.tolist()),
                float(np.trapezoid(bads, goods)),
            )
        )
        if ks_curve is None:
            cut_offs, bad_share, good_share = evaluation.ks_points(bad, published)
            gap = np.abs(bad_share - good_share)
            ks_curve = KsCurve(
                tuple(cut_offs.tolist()),
                tuple(bad_share.tolist()),
                tuple(good_share.tolist()),
                float(gap.max()),
                int(cut_offs[int(gap.argmax())]),
            )
    assert ks_curve is not None
    made = Curves(out_of_time, int(table.num_rows), tuple(roc), ks_curve)
    with _keeping:
        if len(_kept) >= KEPT_CURVES:
            _kept.pop(next(iter(_kept)))
        _kept[key] = made
    return made


def _distribution(published: np.ndarray, month: str) -> Distribution:
    lows = list(range(SCORE_MIN, SCORE_MAX - BIN_WIDTH + 1, BIN_WIDTH))
    # Bins are [low, low + 25) but the last, which takes SCORE_MAX in.
    index = np.minimum((published - SCORE_MIN) // BIN_WIDTH, len(lows) - 1)
    counts = np.bincount(index, minlength=len(lows)).tolist()
    highs = [*(low + BIN_WIDTH - 1 for low in lows[:-1]), SCORE_MAX]
    return Distribution(
        month,
        int(published.size),
        tuple(ScoreBin(*bin_) for bin_ in zip(lows, highs, counts, strict=True)),
    )


def _latest_card(folder: Path, version: str) -> ModelCard | None:
    """The latest month's card `kaimen monitor` wrote for `version`, if any is readable."""
    for path in sorted(folder.glob(f"{version}_*.json"), reverse=True):
        try:
            return ModelCard.from_json(path.read_text(encoding="utf-8"))
        except (OSError, ValidationError):
            continue
    return None


def model_room(
    engine: Engine, backend: ibis.BaseBackend, lake_root: Path, model_cards_dir: Path
) -> ModelRoom:
    """The champion, the models trained with it, their curves, and the champion's months."""
    with engine.connect() as store:
        champion = model_registry.champion(store)
        if champion is None:
            raise NoModel("no model yet: run kaimen train")
        comparison = champion.metrics.comparison
        versions = [m.version for m in comparison.models] if comparison else [champion.version]
        others = [model_registry.get(store, v) for v in versions if v != champion.version]
        months = scores.months_published_with(store, champion.version)
        columns = [scores.month_columns(store, m, champion.version)["score"] for m in months]
    records = [champion, *(r for r in others if r is not None)]
    training = champion.metrics.training
    training_bands = training.bad_rate_by_band if training else ()
    stability: list[MonthStability] = []
    published: np.ndarray | None = None
    for month, column in zip(months, columns, strict=True):
        published = np.array([s for s in column if s is not None], dtype=np.int64)
        if published.size and training_bands:
            item = score_stability(training_bands, published)
            stability.append(MonthStability(month, int(published.size), item.psi, item.level))
    latest = (
        None if published is None or not published.size else _distribution(published, months[-1])
    )
    curves, why = None, None
    paths = summary_paths(engine, lake_root)
    out_of_time = comparison.out_of_time if comparison else None
    if out_of_time is None:
        why = "training recorded no out-of-time month"
    elif not paths:
        why = "the lake holds no summaries to rebuild the out-of-time month from"
    else:
        curves = _curves(backend, paths, records, out_of_time, lake_root)
    return ModelRoom(
        champion=_room_model(champion),
        compared=tuple(_room_model(r) for r in records),
        comparison=comparison,
        curves=curves,
        curves_unavailable=why,
        distribution=latest,
        stability=tuple(stability),
        training_bands=training_bands,
        card=_latest_card(model_cards_dir, champion.version),
    )
