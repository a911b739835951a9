"""Summarising the lake ahead of the monthly run (the score does it too, first)."""

from __future__ import annotations

from pathlib import Path

import ibis
from sqlalchemy import Engine

from kaimen.features.summary_build import SummaryReport, refresh_summaries
from kaimen.store import summary_manifest

__all__ = ["SummaryReport", "summarise_lake", "summary_paths"]


def summarise_lake(engine: Engine, backend: ibis.BaseBackend, lake_root: Path) -> SummaryReport:
    """Summarise every lake file no summary covers yet (its cost follows the new events)."""
    return refresh_summaries(engine, backend, lake_root)


def summary_paths(engine: Engine, lake_root: Path) -> list[Path]:
    """The summary files the store lists, as paths under the lake root."""
    with engine.connect() as store:
        return [lake_root / p for p in summary_manifest.paths(store)]
