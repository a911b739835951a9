"""A person's way up and free what-if, from their latest published score.

Both start from the features behind the score the person sees: the latest published month,
rebuilt point in time for that one person (equal to their row of the monthly batch, the
events that must not count left out), under the model that produced it. The card's scores
are then shown as they would be published (`after_card`: a court listing's deduction and
friends' points), so the what-if starts from the score the person sees and a target is a
score they would see. Changes are described in the catalogue's words.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import ibis
from sqlalchemy import Engine

from kaimen.domain.callers import Caller
from kaimen.domain.errors import Conflict
from kaimen.domain.profiles import Profile
from kaimen.domain.scores import SCORE_MAX
from kaimen.domain.value_domains import ValueDomain
from kaimen.engines.embedded import ibis_connection
from kaimen.features.catalogue import CATALOGUE, DOMAINS
from kaimen.features.one_person import person_features
from kaimen.model.card_scorer import Value
from kaimen.model.scorecard import Scorecard
from kaimen.model.whatif import (
    Change,
    Choices,
    Plan,
    WhatIf,
    check_target,
    choices_of,
    plan_to_target,
    what_if,
)
from kaimen.scoring.after_card import PublishedScores, published_scores
from kaimen.scoring.datasets import feature_arrays
from kaimen.scoring.exclusions import excluded_events
from kaimen.scoring.lake_summaries import summary_paths
from kaimen.scoring.models import load_model
from kaimen.scoring.reading import NoScore, log_read, shown
from kaimen.store import scores


class WhatIfUnsupported(Conflict):
    """The model behind the person's score cannot answer a what-if."""


@dataclass(frozen=True)
class Start:
    person_id: str
    month: str
    model_version: str
    card: Scorecard
    values: dict[str, Value]
    published: PublishedScores


def actionable() -> frozenset[str]:
    """Characteristics a person can change by what they do (not age, not identity facts)."""
    return frozenset(name for name, f in CATALOGUE.items() if f.actionable)


def start(
    engine: Engine, backend: ibis.BaseBackend, lake_root: Path, profile: Profile, person_id: str
) -> Start:
    """The person's latest score's month, model and feature values, and what publication
    makes of each card score of theirs."""
    with engine.connect() as store:
        history = scores.history(store, person_id)
    if not history:
        raise NoScore(f"no published score for {person_id}")
    latest = history[0]
    if latest.score is None:
        raise NoScore(f"{person_id} has a thin file in {latest.month}: there is no score yet")
    _, model = load_model(engine, latest.model_version, lake_root=lake_root)
    if not isinstance(model, Scorecard):
        raise WhatIfUnsupported(
            f"the score of {latest.month} comes from {latest.model_version}, which is not a "
            "points scorecard: what-if needs additive points"
        )
    with engine.connect() as store:
        excluded = excluded_events(store, lake_root, profile, person_id)
    paths = summary_paths(engine, lake_root)
    table = person_features(backend, paths, latest.month, person_id, excluded)
    if table.num_rows != 1:
        raise NoScore(f"no features for {person_id} in {latest.month}")
    # The same float conversion as the batch, so the points are the published ones.
    arrays = feature_arrays(table)
    values: dict[str, Value] = {name: float(arrays[name][0]) for name in model.names}
    published = published_scores(
        engine, backend, lake_root, profile, latest.month, latest.model_version, person_id
    )
    return Start(person_id, latest.month, latest.model_version, model, values, published)


def describe(name: str) -> str:
    """The catalogue's one-line description of a characteristic, without the full stop."""
    return CATALOGUE[name].description.rstrip(".")


def way_up(
    engine: Engine,
    backend: ibis.BaseBackend,
    lake_root: Path,
    profile: Profile,
    person_id: str,
    target: int,
) -> tuple[Start, Plan]:
    """The smallest set of actionable changes that brings the published score to `target`:
    the card's plan to the lowest card score published as `target` or more, its scores as
    published (raw scores stay the card's)."""
    check_target(target)
    begin = start(engine, backend, lake_root, profile, person_id)
    card_now = what_if(begin.card, begin.values, {}, DOMAINS)
    score = begin.published.of(card_now.score)
    if score >= target:
        return begin, Plan(target, card_now.raw_score, score, True, (), card_now.raw_score, score)
    card_target = begin.published.card_score_for(target)
    # Out of reach even at the card's best: the plan to the card's best shows how far.
    card_goal = SCORE_MAX if card_target is None else card_target
    plan = plan_to_target(begin.card, begin.values, card_goal, actionable())
    new_score = begin.published.of(plan.new_score)
    shown = dataclasses.replace(
        plan, target=target, score=score, reachable=new_score >= target, new_score=new_score
    )
    return begin, shown


def free_what_if(
    engine: Engine,
    backend: ibis.BaseBackend,
    lake_root: Path,
    profile: Profile,
    person_id: str,
    changes: Mapping[str, Value],
) -> tuple[Start, WhatIf]:
    """The published score if some characteristics had other values (raw scores and points
    stay the card's)."""
    begin = start(engine, backend, lake_root, profile, person_id)
    tried = what_if(begin.card, begin.values, changes, DOMAINS)
    published = begin.published
    shown = dataclasses.replace(
        tried, score=published.of(tried.score), new_score=published.of(tried.new_score)
    )
    return begin, shown


@dataclass(frozen=True)
class PlannedChange(Change):
    """A change of the plan, with what its characteristic measures in the catalogue's words."""

    description: str


@dataclass(frozen=True)
class WayUp:
    """The way up as the reader is shown it."""

    person_id: str
    month: str
    model_version: str
    score: int
    target: int
    reachable: bool
    changes: tuple[PlannedChange, ...]
    new_score: int


@dataclass(frozen=True)
class TriedWhatIf:
    """A free what-if as the reader is shown it, with the values they tried."""

    person_id: str
    month: str
    model_version: str
    score: int
    new_score: int
    points_change: dict[str, int]
    tried: dict[str, Value]


def plan_for(
    engine: Engine,
    lake_root: Path,
    profile: Profile,
    person_id: str,
    target: int,
    reader: Caller,
    backend: ibis.BaseBackend | None = None,
) -> WayUp:
    """The way up to `target` for the reader; logged for the person when someone else asks."""
    begin, plan = way_up(
        engine, backend or ibis_connection(), lake_root, profile, person_id, target
    )
    answer = WayUp(
        person_id=person_id,
        month=begin.month,
        model_version=begin.model_version,
        score=plan.score,
        target=plan.target,
        reachable=plan.reachable,
        changes=tuple(
            PlannedChange(**dataclasses.asdict(c), description=describe(c.feature))
            for c in plan.changes
        ),
        new_score=plan.new_score,
    )
    log_read(engine, person_id, reader, "whatif", shown(answer))
    return answer


def try_changes(
    engine: Engine,
    lake_root: Path,
    profile: Profile,
    person_id: str,
    changes: Mapping[str, Value],
    reader: Caller,
    backend: ibis.BaseBackend | None = None,
) -> TriedWhatIf:
    """The score with some values changed, for the reader; nothing is stored but the access
    log entry when someone other than the person asks."""
    begin, result = free_what_if(
        engine, backend or ibis_connection(), lake_root, profile, person_id, changes
    )
    answer = TriedWhatIf(
        person_id=person_id,
        month=begin.month,
        model_version=begin.model_version,
        score=result.score,
        new_score=result.new_score,
        points_change=result.points_change,
        tried=dict(changes),
    )
    log_read(engine, person_id, reader, "whatif", shown(answer))
    return answer


@dataclass(frozen=True)
class Tryable(Choices):
    """A characteristic a what-if may change, with what it measures in the catalogue's words."""

    description: str


@dataclass(frozen=True)
class WhatIfStart:
    """Where a what-if starts: the latest published score and, for each actionable
    characteristic on its card, the values it may try (for sliders)."""

    person_id: str
    month: str
    model_version: str
    score: int
    tryable: tuple[Tryable, ...]


def what_if_start(
    engine: Engine,
    lake_root: Path,
    profile: Profile,
    person_id: str,
    reader: Caller,
    backend: ibis.BaseBackend | None = None,
) -> WhatIfStart:
    """The actionable characteristics and the values each may take, from the person's
    latest score; logged for the person when someone else asks."""
    begin = start(engine, backend or ibis_connection(), lake_root, profile, person_id)
    tried = what_if(begin.card, begin.values, {}, DOMAINS)
    answer = WhatIfStart(
        person_id=person_id,
        month=begin.month,
        model_version=begin.model_version,
        score=begin.published.of(tried.score),
        tryable=tuple(
            Tryable(
                **{f.name: getattr(c, f.name) for f in dataclasses.fields(c)},
                description=describe(c.feature),
            )
            for c in choices_of(begin.card, begin.values, actionable())
        ),
    )
    log_read(engine, person_id, reader, "whatif", shown(answer))
    return answer


def what_if_domains() -> Mapping[str, ValueDomain]:
    """The characteristics a what-if may change and the values each can take."""
    return DOMAINS
