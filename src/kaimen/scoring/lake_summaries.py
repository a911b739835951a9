"""Summarising the lake ahead of the monthly run (the score does it too, first)."""

from __future__ import annotations

from pathlib import Path

import ibis
from sqlalchemy import Engine

from kaimen.features.summary_build import SummaryReport, refresh_summaries

__all__ = ["SummaryReport", "summarise_lake"]


def summarise_lake(engine: Engine, backend: ibis.BaseBackend, lake_root: Path) -> SummaryReport:
    """Summarise every lake file no summary covers yet (its cost follows the new events)."""
    return refresh_summaries(engine, backend, lake_root)
