"""Honest evaluation: held-out people, and an outcome window no fit saw (issue 14, item 6)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kaimen.engines.embedded import ibis_connection
from kaimen.enrolment import enrol_file
from kaimen.ingest.file_ingest import ingest_file
from kaimen.scoring.datasets import OUTCOME_MONTHS, add_months, labelled_examples
from kaimen.scoring.lake_summaries import summary_paths
from kaimen.scoring.training import HELD_OUT_EVERY, held_out, people_rows, train
from kaimen.simulate.run import simulate
from kaimen.store.database import open_store
from tests.conftest import NOW
from tests.population import LAST, VAULT, Populations


def test_one_person_in_five_is_held_out_the_same_way_every_time() -> None:
    ids = np.array([f"p{i:05d}" for i in range(20_000)], dtype=object)
    mask = held_out(ids)
    assert abs(mask.mean() - 1 / HELD_OUT_EVERY) < 0.01
    np.testing.assert_array_equal(held_out(ids[::-1]), mask[::-1])


def test_training_never_sees_the_people_it_is_judged_on(populations: Populations) -> None:
    with populations.copy("trained", "sqlite") as population, population.opened() as w:
        report = w.report
        out_of_time = add_months(LAST, -OUTCOME_MONTHS)
        paths = summary_paths(w.engine, w.lake)
        backend = ibis_connection()
        test = labelled_examples(backend, paths, out_of_time, LAST)
        snapshots = [
            labelled_examples(backend, paths, add_months(out_of_time, -k), LAST) for k in (3, 2, 1)
        ]
    held = people_rows(test, True)
    assert 0 < held.num_rows < test.num_rows
    for trained in report.models:
        m = trained.metrics
        assert m.training is not None and m.held_out_people is not None
        assert m.out_of_time is not None and m.about is not None
        # The fitted rows are the other people's; the judged rows are the held-out people's.
        assert m.training.rows == sum(people_rows(s, False).num_rows for s in snapshots)
        assert m.held_out_people.rows == sum(people_rows(s, True).num_rows for s in snapshots)
        assert m.out_of_time.rows == held.num_rows
        assert m.held_out_people.auc > 0.7
        assert "overlaps the training outcome windows by up to 11 months" in m.about["out_of_time"]
        # 24 months of history are too few for a window no fit saw: said, not faked.
        assert m.out_of_window is None
        assert m.about["out_of_window"].startswith("not computed: it needs history from before")


def test_with_enough_history_the_recipe_is_judged_on_an_unseen_outcome_window(
    tmp_path: Path,
) -> None:
    sim = tmp_path / "sim"
    # 30 months: the refit's snapshots start 27 months before LAST.
    simulate(400, 30, 5, sim, LAST)
    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        enrol_file(engine, VAULT, sim / "people.csv", "test", now=NOW)
        ingest_file(engine, tmp_path / "lake", sim / "events.parquet", "test", now=NOW)
        report = train(engine, ibis_connection(), tmp_path / "lake", tmp_path / "m", LAST, "t", NOW)
    finally:
        engine.dispose()
    out_of_time = add_months(LAST, -OUTCOME_MONTHS)
    for trained in report.models:
        m = trained.metrics
        assert m.out_of_window is not None and m.out_of_time is not None and m.about is not None
        assert m.out_of_window.rows == m.out_of_time.rows
        snapshots = m.about["out_of_window"].rsplit("Snapshots ", 1)[1].rstrip(".").split("..")
        # Every refit outcome window ends by the month whose outcomes judge it.
        assert add_months(snapshots[1], OUTCOME_MONTHS) <= out_of_time
        assert snapshots[0] == add_months(out_of_time, -OUTCOME_MONTHS - 3)
