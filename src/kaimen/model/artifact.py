"""A scorecard as a readable JSON document, and back (never pickle).

Layout: `format`, `schema_version`, `content_sha256` and `card`. The card lists each
characteristic's `kind` ("numeric" or "categorical"), its bins as rows (label, points, WoE,
training count and bads, and for a number the upper edge, null on the last bin meaning no
limit, or for a category the list of categories, as strings) and its missing bin. A
categorical characteristic also names `unseen_bin`, the bin (0-based) that scores a category
not seen in training. The hash is SHA-256 of the card in canonical form (sorted keys, no
spaces, UTF-8), so an edited card is refused.

Both kinds of model (the scorecard here, the LightGBM challenger in kaimen.model.challenger)
keep `library_versions` in their content, under the hash: the Python, kaimen, NumPy, LightGBM
and other versions the model was fitted under (kaimen.model.library_versions, which also says
how a reload's versions differ). Artifacts written before that have none, and load as models
with no recorded versions; older kaimens ignore the key, so it needs no new schema version.

Schema versions: 2 added `kind`, categories, `unseen_bin` and the card's fitting `settings`;
3 adds `missing.own_group` (whether training saw enough blanks to score them by their own bad
rate; otherwise a blank scores no better than the riskiest bin) and writes categories as
canonical codes (kaimen.model.category_codes), with `unseen_bin` the riskiest bin. Versions 1
(numeric only) and 2 are still read and keep the points they were fitted with, so a published
score can still be recomputed exactly; their categories are reduced to canonical codes on
reading (two that become one code are refused), and their `missing_own_group` is None. Any
other version is refused, since guessing at a layout could score people with the wrong points.
It proves integrity, not authorship: whoever edits the card can recompute the hash, so keep
artifacts where only the training job can write them.

Floats are written by `repr`, which reads back to the identical double, so a loaded card
scores bit-identically to the one written.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

from kaimen.domain.errors import Rejected
from kaimen.model.binning import Kind
from kaimen.model.category_codes import canonical_code
from kaimen.model.scorecard import MISSING_LABEL, Characteristic, Scorecard

FORMAT = "kaimen.scorecard"
SCHEMA_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)


class ArtifactRejected(Rejected):
    """A scorecard artifact cannot be loaded: not JSON, unknown schema, edited, or malformed."""


def _canonical(content: Any) -> bytes:
    return json.dumps(
        content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def content_hash(content: Any) -> str:
    """SHA-256 (hex) of `content` in canonical JSON."""
    return hashlib.sha256(_canonical(content)).hexdigest()


def _characteristic_content(c: Characteristic) -> dict[str, Any]:
    bins: list[dict[str, Any]] = [
        {"label": label, "points": p, "woe": w, "count": n, "bads": b}
        for label, p, w, n, b in zip(c.labels, c.points, c.woe, c.counts, c.bads, strict=True)
    ]
    extra: dict[str, Any] = {}
    if c.kind == "categorical":
        for row, group in zip(bins, c.categories, strict=True):
            row["categories"] = list(group)
        extra["unseen_bin"] = c.unseen_bin
    else:
        for row, edge in zip(bins, c.edges, strict=True):
            row["upper_edge"] = edge if math.isfinite(edge) else None
    return {
        "name": c.name,
        "kind": c.kind,
        **extra,
        "dimension": str(c.dimension),
        "direction": c.direction,
        "information_value": c.iv,
        "coefficient": c.coefficient,
        "bins": bins,
        "missing": {
            "label": MISSING_LABEL,
            "points": c.missing_points,
            "woe": c.missing_woe,
            "count": c.missing_count,
            "bads": c.missing_bads,
            "own_group": c.missing_own_group,
        },
    }


def card_content(card: Scorecard) -> dict[str, Any]:
    """The card as plain JSON values (what the content hash covers)."""
    return {
        "version": card.version,
        "intercept": card.intercept,
        "characteristics": [_characteristic_content(c) for c in card.characteristics],
        "training": dict(card.training),
        "metrics": dict(card.metrics),
        "excluded": dict(card.excluded),
        "settings": dict(card.settings),
        "library_versions": dict(card.library_versions),
    }


def envelope(fmt: str, schema_version: int, key: str, content: Any, what: str) -> str:
    """Indented JSON: format, schema version, the content's SHA-256, and the content under
    `key`. Raises ValueError naming `what` if the content is not plain JSON (NaN, objects)."""
    try:
        digest = content_hash(content)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{what} is not plain JSON: {error}") from error
    document = {
        "format": fmt,
        "schema_version": schema_version,
        "content_sha256": digest,
        key: content,
    }
    return json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def open_envelope(text: str, fmt: str) -> dict[str, Any]:
    """The JSON document in `text` if it is one of format `fmt`; ArtifactRejected otherwise.
    The caller checks the schema version and the content hash."""
    try:
        document = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as error:
        raise ArtifactRejected(f"artifact is not JSON: {error}") from error
    if not isinstance(document, dict) or document.get("format") != fmt:
        raise ArtifactRejected(f"not a {fmt} artifact")
    return document


def recorded_versions(content: Mapping[str, Any]) -> dict[str, str]:
    """The library versions a model's content records; none for an artifact written before
    they were. Raises ValueError unless they map names to version strings."""
    versions = content.get("library_versions", {})
    if not isinstance(versions, dict) or not all(isinstance(v, str) for v in versions.values()):
        raise ValueError(f"library_versions must map names to version strings, not {versions!r}")
    return versions


def to_json(card: Scorecard) -> str:
    """Indented JSON for the card. Raises ValueError if training or metrics hold non-JSON values
    (NaN, infinities, objects)."""
    return envelope(FORMAT, SCHEMA_VERSION, "card", card_content(card), f"scorecard {card.version}")


def _refuse_constant(name: str) -> None:
    raise ArtifactRejected(f"artifact holds {name}, which is not JSON")


def _characteristic(content: Mapping[str, Any], schema_version: int) -> Characteristic:
    bins = content["bins"]
    missing = content["missing"]
    # Version 1 knew numbers only.
    kind: Kind = content["kind"] if schema_version >= 2 else "numeric"
    if kind not in ("numeric", "categorical"):
        raise ValueError(f"{content['name']}: unknown kind {kind!r}")
    categories: tuple[tuple[str, ...], ...] = ()
    unseen_bin = None
    if kind == "categorical":
        categories = tuple(tuple(_codes(b["categories"], schema_version)) for b in bins)
        unseen_bin = content["unseen_bin"]
        edges = [float(j) for j in range(len(bins) - 1)] + [math.inf]
    else:
        edges = [math.inf if b["upper_edge"] is None else float(b["upper_edge"]) for b in bins]
    return Characteristic(
        name=content["name"],
        dimension=content["dimension"],
        direction=content["direction"],
        edges=tuple(edges),
        labels=tuple(b["label"] for b in bins),
        points=tuple(b["points"] for b in bins),
        missing_points=missing["points"],
        coefficient=float(content["coefficient"]),
        woe=tuple(float(b["woe"]) for b in bins),
        missing_woe=float(missing["woe"]),
        counts=tuple(int(b["count"]) for b in bins),
        bads=tuple(int(b["bads"]) for b in bins),
        missing_count=int(missing["count"]),
        missing_bads=int(missing["bads"]),
        iv=float(content["information_value"]),
        kind=kind,
        categories=categories,
        unseen_bin=unseen_bin,
        missing_own_group=_own_group(missing, schema_version),
    )


def _own_group(missing: Mapping[str, Any], schema_version: int) -> bool | None:
    if schema_version < 3:
        return None
    own_group = missing["own_group"]
    if not isinstance(own_group, bool):
        raise ValueError(f"missing.own_group must be true or false, not {own_group!r}")
    return own_group


def _codes(values: Any, schema_version: int) -> list[str]:
    """A bin's categories; before version 3 they were raw text, so they are made canonical."""
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ValueError(f"categories must be a list of strings, not {values!r}")
    if schema_version >= 3:
        if any(canonical_code(v) != v for v in values):
            raise ValueError(f"categories must be canonical codes, not {values!r}")
        return values
    codes = [canonical_code(v) for v in values]
    if any(c is None for c in codes):
        raise ValueError(f"a blank category cannot be scored as a category: {values!r}")
    return [c for c in codes if c is not None]


def from_json(text: str) -> Scorecard:
    """The card in `text`; raises ArtifactRejected for anything but an intact, known artifact."""
    document = open_envelope(text, FORMAT)
    version = document.get("schema_version")
    # Whole numbers only: 2.0 == 2 in Python, and `true` is an int there too.
    if type(version) is not int or version not in READABLE_VERSIONS:
        readable = " and ".join(str(v) for v in READABLE_VERSIONS)
        raise ArtifactRejected(
            f"unknown schema_version {version!r}; this kaimen reads {readable} "
            "(a newer kaimen wrote it? upgrade, or retrain with this one)"
        )
    content: Any = document.get("card")
    if content_hash(content) != document.get("content_sha256"):
        raise ArtifactRejected("content hash does not match: the card was edited or damaged")
    try:
        return Scorecard(
            version=content["version"],
            characteristics=tuple(_characteristic(c, version) for c in content["characteristics"]),
            intercept=float(content["intercept"]),
            training=content["training"],
            metrics=content["metrics"],
            excluded=content["excluded"],
            # Version 1 did not record how the card was fitted.
            settings=content["settings"] if version >= 2 else {},
            library_versions=recorded_versions(content),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ArtifactRejected(f"malformed scorecard: {error!r}") from error
