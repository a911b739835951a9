"""One person re-scored now, through the batch's own code: a disputed late payment stops counting
the moment the dispute is filed (cn), counts again when the furnisher verifies it, and the
published snapshots always equal what the monthly batch would compute now."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from sqlalchemy import Engine, select

from kaimen.domain import profiles
from kaimen.domain.callers import Caller
from kaimen.domain.disputes import Answer, ItemRef
from kaimen.domain.snapshots import SNAPSHOT_COLUMNS
from kaimen.dueprocess import answering, disputing
from kaimen.engines.embedded import ibis_connection
from kaimen.scoring import court_penalty
from kaimen.scoring.batch import load_model, snapshot_table
from kaimen.scoring.exclusions import excluded_events
from kaimen.scoring.lake_summaries import summary_paths
from kaimen.scoring.way_up import what_if_start
from kaimen.sharing import consenting, deciding, offering, partnering
from kaimen.store import audit, lake_manifest, people, score_revisions
from kaimen.store.tables import score_snapshots
from tests.population import BACKENDS, LAST, Populations, World

LATER = dt.datetime(2026, 11, 20, 4, 0, tzinfo=dt.UTC)
CN = profiles.load("cn")


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest, populations: Populations) -> Iterator[World]:
    with populations.copy("scored", request.param) as population, population.opened() as w:
        yield w


def _stored(engine: Engine) -> dict[str, dict[str, object]]:
    """Every published snapshot of LAST, by person, with JSON read back."""
    with engine.connect() as store:
        rows = store.execute(select(score_snapshots).where(score_snapshots.c.month == LAST))
        return {r.person_id: _row(r._asdict()) for r in rows}


def _row(values: dict[str, object]) -> dict[str, object]:
    out = {name: values[name] for name in SNAPSHOT_COLUMNS}
    for name in ("reasons", "points"):
        if isinstance(out[name], str):
            out[name] = json.loads(str(out[name]))
    out["thin_file"] = bool(out["thin_file"])
    return out


def _batch_now(world: World) -> dict[str, dict[str, object]]:
    """What the monthly batch would publish for LAST if it ran now."""
    backend = ibis_connection()
    with world.engine.connect() as store:
        enrolled = people.active_ids(store)
        excluded = excluded_events(store, world.lake, CN)
        deductions = court_penalty.deductions(store, CN)
    model = load_model(world.engine, lake_root=world.lake)
    paths = summary_paths(world.engine, world.lake)
    table = snapshot_table(backend, paths, LAST, enrolled, model, LATER, excluded, deductions)
    return {row["person_id"]: _row(row) for row in table.to_pylist()}


def _a_default(world: World) -> tuple[str, str, str]:
    """(person, source, event_id) of a late repayment of a scored person whose count of late
    repayments in 12 months is just above the card's best bin: taking one out moves them in."""
    _, card = load_model(world.engine, lake_root=world.lake)
    (late,) = (c for c in card.characteristics if c.name == "late_repayments_12m")
    count = int(late.edges[0]) + 1
    with world.engine.connect() as store:
        files = [str(world.lake / p) for p in lake_manifest.files(store)]
    scored = {p for p, row in _stored(world.engine).items() if row["score"] is not None}
    rows = duckdb.sql(
        "SELECT person_id, min(source), min(event_id) FROM read_parquet($files) "
        "WHERE kind IN ('loan_repayment', 'bill_repayment', 'rent_payment', 'utility_payment') "
        "AND status = 'late' AND occurred_at >= TIMESTAMPTZ '2025-11-01 00:00:00+00' "
        "GROUP BY person_id HAVING count(*) = $count "
        "ORDER BY person_id",
        params={"files": files, "count": count},
    ).fetchall()
    return next((p, s, e) for p, s, e in rows if p in scored)


def test_a_disputed_late_payment_stops_counting_at_once_and_counts_again_when_verified(
    world: World, tmp_path: Path
) -> None:
    person, source, event_id = _a_default(world)
    before = _stored(world.engine)
    assert _batch_now(world) == before  # nothing excluded yet: the batch agrees

    # A lender that asks about her sees that she disputes an item, and nothing else about it.
    partnering.add_partner(world.engine, "rescore-lender", "Lender", "admin")
    issued = partnering.issue_key(world.engine, "rescore-lender", ["decisions"], "admin")
    offer = offering.publish_offer(
        world.engine, "rescore-lender", offering.OfferTerms("Card", "a card", 650), "partner"
    )
    consenting.grant_consent(
        world.engine,
        person,
        consenting.ConsentRequest("rescore-lender", "decision", share_score=False),
        f"person:{person}",
        LATER - dt.timedelta(days=1),
    )

    def decided() -> deciding.Answer:
        return deciding.decide(world.engine, issued.secret, offer.offer_id, person)

    assert not decided().under_dispute
    filed = disputing.file_dispute(
        world.engine,
        world.lake,
        tmp_path / "evidence",
        CN,
        Caller.person(person),
        person,
        ItemRef.event(source, event_id),
        "I paid this on time; the slip is attached.",
        now=LATER,
    )
    assert decided().under_dispute
    (revision,) = filed.revisions
    assert (revision.person_id, revision.month, revision.cause) == (person, LAST, "dispute")
    assert revision.score_before == before[person]["score"]
    after = _stored(world.engine)
    # The late payment no longer costs points; nobody else moved.
    assert revision.score_after is not None and revision.score_before is not None
    assert revision.score_after > revision.score_before
    assert {p: r for p, r in after.items() if p != person} == {
        p: r for p, r in before.items() if p != person
    }
    assert revision.score_after == after[person]["score"]
    # Exactly what the monthly batch computes now, for everyone.
    assert _batch_now(world) == after
    # Her what-if starts from the revised score: the disputed payment left out there too.
    assert what_if_start(world.engine, world.lake, CN, person, Caller.admin()).score == (
        revision.score_after
    )

    answered = answering.answer_dispute(
        world.engine,
        world.lake,
        CN,
        Caller.admin(),
        filed.dispute.dispute_id,
        Answer.VERIFIED,
        now=LATER + dt.timedelta(days=3),
    )
    (back,) = answered.revisions
    assert not decided().under_dispute
    assert back.score_after == before[person]["score"]
    assert _stored(world.engine) == before == _batch_now(world)

    with world.engine.connect() as store:
        history = score_revisions.of_person(store, person)
    assert [(r.score_before, r.score_after) for r in history] == [
        (revision.score_after, revision.score_before),
        (revision.score_before, revision.score_after),
    ]
    assert "answered verified" in history[0].note
    assert audit.verify(world.engine) > 0


def test_nobody_is_re_scored_without_a_published_score(world: World, tmp_path: Path) -> None:
    from kaimen.dueprocess.rescoring import rescore_now

    assert (
        rescore_now(world.engine, world.lake, CN, ["nobody-here"], "x", "y", "z", "t", LATER) == ()
    )
