"""What-if under a scorecard: the way up to a target score, and a free "what if these were...".

`plan_to_target` finds the smallest set of actionable changes that lifts a person's raw score
to the target. Points are additive per characteristic, so the search is exact:

1. Each actionable characteristic offers moves to each of its bins that gives more points
   than the person's bin now (never to the missing bin: a record cannot be un-made).
2. Among all ways of picking at most one move per characteristic whose points cover the
   shortfall, the plan has the fewest changes; among those, the fewest bins moved in total
   (a move from "5 or more" to "1-2" is two bins; any move of a missing value or of a
   category is one); then the most points; then the card's order (highest IV first).
   A knapsack over (changes, points capped at the shortfall) finds it in
   O(characteristics x bins x changes) vector steps.
3. Each change names a value in the new bin: the one nearest the person's current value, so
   applying the plan to the person's features reaches the target by construction.

Characteristics that are not actionable (age, identity facts, length of history) never
appear in a plan, and a target that even every actionable move cannot reach is reported as
unreachable with the best score that is reachable.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import numpy as np

from kaimen.domain.errors import Rejected
from kaimen.domain.scores import SCORE_MAX, SCORE_MIN
from kaimen.domain.text import excerpt
from kaimen.domain.value_domains import ValueDomain
from kaimen.model.card_scorer import CardScorer, Value, is_missing
from kaimen.model.scorecard import MISSING_LABEL, Characteristic, Scorecard


class WhatIfRejected(Rejected, ValueError):
    """A what-if asked about something the card cannot answer (unknown or bad value)."""


@dataclass(frozen=True)
class Change:
    """One step of a plan: move `feature` from its current bin to a better one."""

    feature: str
    current_value: float | str | None
    current_label: str
    new_value: float | str
    new_label: str
    points_added: int


@dataclass(frozen=True)
class Plan:
    target: int
    raw_score: int
    score: int
    reachable: bool
    changes: tuple[Change, ...]
    # The score once every change is made; the best reachable score when unreachable.
    new_raw_score: int
    new_score: int


@dataclass(frozen=True)
class WhatIf:
    raw_score: int
    score: int
    new_raw_score: int
    new_score: int
    # Points per characteristic after the changes, and how each moved.
    points: dict[str, int]
    points_change: dict[str, int]


def _published(raw: int) -> int:
    return min(max(raw, SCORE_MIN), SCORE_MAX)


def _value_in_bin(c: Characteristic, j: int, current: Value) -> float | str:
    """The value in bin j nearest to `current` (bins are right-closed, the last is open);
    for a categorical characteristic, the bin's first category."""
    if c.kind == "categorical":
        return c.categories[j][0]
    low = -math.inf if j == 0 else c.edges[j - 1]
    high = c.edges[j]
    whole = all(float(e).is_integer() for e in c.edges[:-1])
    smallest = low + 1.0 if whole else float(np.nextafter(low, math.inf))
    if j == 0:
        smallest = -math.inf
    if not is_missing(current):
        assert isinstance(current, int | float)
        if low < current <= high:
            return float(current)
        if current > high:
            return high
        return smallest
    # From missing: the bin's value nearest zero, a "nothing happened" count where possible.
    if smallest <= 0.0 <= high:
        return 0.0
    if high < 0.0:
        return high
    return smallest


def _moves(c: Characteristic, current_bin: int) -> list[tuple[int, int, int]]:
    """(bin, points gained, bins moved) for each bin that gives more points than now."""
    now = c.missing_points if current_bin < 0 else c.points[current_bin]
    moves = []
    for j, p in enumerate(c.points):
        if p > now:
            # Categories have no order a person could move along: any change is one step.
            steps = 1 if current_bin < 0 or c.kind == "categorical" else abs(j - current_bin)
            moves.append((j, p - now, steps))
    return moves


_NONE = np.iinfo(np.int64).max // 4
# Bins moved weigh more than any possible sum of points, so one integer orders plans by
# fewest bins moved, then most points.
_STEP = 1 << 24


def _change(c: Characteristic, current_bin: int, current: Value, bin_to: int, gain: int) -> Change:
    return Change(
        feature=c.name,
        current_value=None
        if is_missing(current)
        else current
        if isinstance(current, str)
        else float(current),  # type: ignore[arg-type]
        current_label=MISSING_LABEL if current_bin < 0 else c.labels[current_bin],
        new_value=_value_in_bin(c, bin_to, current),
        new_label=c.labels[bin_to],
        points_added=gain,
    )


def check_target(target: object) -> None:
    """WhatIfRejected unless `target` is a whole score from 350 to 950."""
    if isinstance(target, bool) or not isinstance(target, int):
        raise WhatIfRejected(f"target must be a whole number, not {target!r}")
    if not SCORE_MIN <= target <= SCORE_MAX:
        raise WhatIfRejected(f"target must be between {SCORE_MIN} and {SCORE_MAX}, not {target}")


def plan_to_target(
    card: Scorecard,
    values: Mapping[str, Value],
    target: int,
    actionable: Collection[str],
) -> Plan:
    """The smallest set of actionable changes that brings the card's score to `target`."""
    check_target(target)
    scorer = CardScorer(card)
    raw = scorer.raw(values)
    shortfall = target - raw
    if shortfall <= 0:
        return Plan(target, raw, _published(raw), True, (), raw, _published(raw))

    options: list[tuple[Characteristic, int, list[tuple[int, int, int]]]] = []
    for c in card.characteristics:
        if c.name in actionable:
            current_bin = scorer.bin_of(c.name, values[c.name])
            moves = _moves(c, current_bin)
            if moves:
                options.append((c, current_bin, moves))

    n, cap = len(options), shortfall
    # key[k, g]: the best (fewest bins moved, then most points) way to gain g points (capped
    # at the shortfall) with k changes among the characteristics seen so far.
    key = np.full((n + 1, cap + 1), _NONE, dtype=np.int64)
    key[0, 0] = 0
    move = np.full((n, n + 1, cap + 1), -1, dtype=np.int64)
    came_from = np.zeros((n, n + 1, cap + 1), dtype=np.int64)
    for i, (_, _, moves) in enumerate(options):
        new = key.copy()  # making no change on characteristic i
        for m, (_, gain, steps) in enumerate(moves):
            for k in range(i + 1):
                src = np.flatnonzero(key[k] < _NONE)
                if src.size == 0:
                    continue
                dst = np.minimum(src + gain, cap)
                candidate = key[k, src] + steps * _STEP - gain
                capped = dst == cap
                if capped.sum() > 1:
                    # Several sources reach "shortfall covered": only the best may write it.
                    keep = ~capped
                    keep[np.argmin(np.where(capped, candidate, _NONE))] = True
                    src, dst, candidate = src[keep], dst[keep], candidate[keep]
                better = candidate < new[k + 1, dst]
                new[k + 1, dst[better]] = candidate[better]
                move[i, k + 1, dst[better]] = m
                came_from[i, k + 1, dst[better]] = src[better]
        key = new

    reachable = bool((key[:, cap] < _NONE).any())
    changes: list[Change] = []
    if reachable:
        k, g = int(np.argmax(key[:, cap] < _NONE)), cap
        for i in range(n - 1, -1, -1):
            m = int(move[i, k, g])
            if m < 0:
                continue
            c, current_bin, moves = options[i]
            bin_to, gain, _ = moves[m]
            changes.append(_change(c, current_bin, values[c.name], bin_to, gain))
            k, g = k - 1, int(came_from[i, k, g])
        changes.reverse()
    else:
        # The best that actionable changes can do: every one of them to its best bin.
        for c, current_bin, moves in options:
            bin_to, gain, _ = max(moves, key=lambda move_: (move_[1], -move_[2]))
            changes.append(_change(c, current_bin, values[c.name], bin_to, gain))
    new_raw = raw + sum(change.points_added for change in changes)
    return Plan(
        target,
        raw,
        _published(raw),
        reachable,
        tuple(changes),
        new_raw,
        _published(new_raw),
    )


@dataclass(frozen=True)
class Choice:
    """One value a what-if may try for a characteristic: one per bin of the card, the value
    in it nearest the person's own (as a plan would name it); `value` None is the missing
    bin, offered only to someone who has nothing on record (a record cannot be un-made)."""

    label: str
    value: float | str | None
    points: int


@dataclass(frozen=True)
class Choices:
    """The values a what-if may try for one characteristic, in the card's bin order, and
    which of them is the person's now."""

    feature: str
    current_value: float | str | None
    current: int  # index into `choices`
    choices: tuple[Choice, ...]


def choices_of(
    card: Scorecard, values: Mapping[str, Value], actionable: Collection[str]
) -> tuple[Choices, ...]:
    """The choices for each actionable characteristic of the card, in card order."""
    scorer = CardScorer(card)
    found: list[Choices] = []
    for c in card.characteristics:
        if c.name not in actionable:
            continue
        value = values[c.name]
        current_bin = scorer.bin_of(c.name, value)
        bins = [
            Choice(label, _value_in_bin(c, j, value), points)
            for j, (label, points) in enumerate(zip(c.labels, c.points, strict=True))
        ]
        if current_bin < 0:
            bins.insert(0, Choice(MISSING_LABEL, None, c.missing_points))
        current: float | str | None = (
            None if is_missing(value) else value if isinstance(value, str) else float(value)  # type: ignore[arg-type]
        )
        found.append(Choices(c.name, current, max(current_bin, 0), tuple(bins)))
    return tuple(found)


def apply(values: Mapping[str, Value], changes: Collection[Change]) -> dict[str, Value]:
    """The person's values with a plan's changes made."""
    out = dict(values)
    for change in changes:
        out[change.feature] = change.new_value
    return out


def what_if(
    card: Scorecard,
    values: Mapping[str, Value],
    changes: Mapping[str, Value],
    domains: Mapping[str, ValueDomain],
) -> WhatIf:
    """The score with some characteristics set to other values (None = nothing on record).
    A number must lie in its characteristic's domain, when `domains` has one: a share of 1e308
    scores (in the card's last bin) but is no answer to any real question."""
    unknown = sorted(set(changes) - set(card.names))
    if unknown:
        raise WhatIfRejected(
            f"not on the card: {', '.join(excerpt(name) for name in unknown)} "
            f"(the card uses: {', '.join(card.names)})"
        )
    kinds = {c.name: c.kind for c in card.characteristics}
    for name, value in changes.items():
        if value is None:
            continue
        if kinds[name] == "categorical":
            if not isinstance(value, str):
                raise WhatIfRejected(
                    f"{name}: expected a category (text) or null, got {excerpt(repr(value))}"
                )
            continue
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise WhatIfRejected(
                f"{name}: expected a finite number or null, got {excerpt(repr(value))}"
            )
        domain = domains.get(name)
        refusal = None if domain is None else domain.refusal(float(value))
        if refusal is not None:
            raise WhatIfRejected(f"{name}: {refusal} expected, got {excerpt(repr(value))}")
    scorer = CardScorer(card)
    before = scorer.points(values)
    after = scorer.points({**values, **changes})
    raw, new_raw = sum(before.values()), sum(after.values())
    return WhatIf(
        raw,
        _published(raw),
        new_raw,
        _published(new_raw),
        after,
        {name: after[name] - before[name] for name in after if after[name] != before[name]},
    )
