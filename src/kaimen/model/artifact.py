"""A scorecard as a readable JSON document, and back (never pickle).

Layout: `format`, `schema_version`, `content_sha256` and `card`. The card lists each
characteristic's bins as rows (label, upper edge, points, WoE, training count and bads; the
last bin's upper edge is null, meaning no limit) and its missing bin. The hash is SHA-256 of
the card in canonical form (sorted keys, no spaces, UTF-8), so an edited card is refused.
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

from kaimen.domain.errors import KaimenError
from kaimen.model.scorecard import MISSING_LABEL, Characteristic, Scorecard

FORMAT = "kaimen.scorecard"
SCHEMA_VERSION = 1


class ArtifactRejected(KaimenError):
    """A scorecard artifact cannot be loaded: not JSON, unknown schema, edited, or malformed."""


def _canonical(content: Any) -> bytes:
    return json.dumps(
        content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def content_hash(content: Any) -> str:
    """SHA-256 (hex) of `content` in canonical JSON."""
    return hashlib.sha256(_canonical(content)).hexdigest()


def _characteristic_content(c: Characteristic) -> dict[str, Any]:
    bins = [
        {
            "label": label,
            "upper_edge": edge if math.isfinite(edge) else None,
            "points": p,
            "woe": w,
            "count": n,
            "bads": b,
        }
        for label, edge, p, w, n, b in zip(
            c.labels, c.edges, c.points, c.woe, c.counts, c.bads, strict=True
        )
    ]
    return {
        "name": c.name,
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
    }


def to_json(card: Scorecard) -> str:
    """Indented JSON for the card. Raises ValueError if training or metrics hold non-JSON values
    (NaN, infinities, objects)."""
    content = card_content(card)
    try:
        digest = content_hash(content)
    except (TypeError, ValueError) as error:
        raise ValueError(f"scorecard {card.version} is not plain JSON: {error}") from error
    document = {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "content_sha256": digest,
        "card": content,
    }
    return json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _refuse_constant(name: str) -> None:
    raise ArtifactRejected(f"artifact holds {name}, which is not JSON")


def _characteristic(content: Mapping[str, Any]) -> Characteristic:
    bins = content["bins"]
    missing = content["missing"]
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
    )


def from_json(text: str) -> Scorecard:
    """The card in `text`; raises ArtifactRejected for anything but an intact, known artifact."""
    try:
        document = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as error:
        raise ArtifactRejected(f"artifact is not JSON: {error}") from error
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ArtifactRejected(f"not a {FORMAT} artifact")
    version = document.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ArtifactRejected(
            f"unknown schema_version {version!r}; this kaimen reads {SCHEMA_VERSION}"
        )
    content: Any = document.get("card")
    if content_hash(content) != document.get("content_sha256"):
        raise ArtifactRejected("content hash does not match: the card was edited or damaged")
    try:
        return Scorecard(
            version=content["version"],
            characteristics=tuple(_characteristic(c) for c in content["characteristics"]),
            intercept=float(content["intercept"]),
            training=content["training"],
            metrics=content["metrics"],
            excluded=content["excluded"],
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ArtifactRejected(f"malformed scorecard: {error!r}") from error
