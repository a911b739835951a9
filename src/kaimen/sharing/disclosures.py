"""What the person may read about who read them: their access log and the decisions
partners asked for about them."""

from __future__ import annotations

from sqlalchemy import Engine

from kaimen.domain.decisions import Decision
from kaimen.store import access_log, decisions
from kaimen.store.access_log import Access

__all__ = ["Access", "Decision", "access_log_of", "decisions_about"]


def access_log_of(engine: Engine, person_id: str) -> list[Access]:
    """Every read of the person's data by someone else, newest first."""
    with engine.connect() as store:
        return access_log.of_person(store, person_id)


def decisions_about(engine: Engine, person_id: str) -> list[Decision]:
    """Every decision partners asked for about the person, newest first."""
    with engine.connect() as store:
        return decisions.of_person(store, person_id)
