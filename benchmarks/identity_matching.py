"""Identity matching (run by hand): court entries linked to enrolled people, against known truth.

    flock /work/heavy.lock .venv/bin/python benchmarks/identity_matching.py --people 100000 \
        --entries 8000 --seed 7

A simulated population with Hanzi names (`kaimen.simulate.names`) and a court list with the
errors of real published lists (`kaimen.simulate.court_list`) are linked by
`kaimen.matching.linkage.link_entries` with the shipped parameters and classified with the
default thresholds. Reported:

- precision of auto-links, and of auto-links plus the review band (correct links / links made,
  counting a review item as linked to its candidate);
- recall of each (true links found / entries that truly belong to an enrolled person);
- the review queue, and recall per kind of error;
- wall time per 1,000 entries, against the ceiling of the same tables joined exactly on the
  full ID number by bare DuckDB in the same run (the fastest thing that links anything).

`--train` instead fits the model's m and u on a list generated with `--seed` (use a seed the
benchmark does not evaluate on) and writes src/kaimen/matching/linkage_parameters.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import splink

from kaimen.matching.linkage import classify, link_entries
from kaimen.matching.records import LinkThresholds
from kaimen.matching.training import train_parameters
from kaimen.simulate.court_list import CourtList, enrolled_people, make_court_list
from kaimen.simulate.names import population_names
from kaimen.simulate.population import make_population

ROOT = Path(__file__).resolve().parent
PARAMETERS = ROOT.parent / "src" / "kaimen" / "matching" / "linkage_parameters.json"
END = dt.date(2026, 7, 1)


def world(people: int, entries: int, seed: int) -> tuple[pa.Table, CourtList]:
    population = make_population(np.random.default_rng(seed), people, seed, END)
    names = population_names(seed, population.national_id)
    court_list = make_court_list(np.random.default_rng([seed, 1]), population, names, entries)
    return enrolled_people(population, names), court_list


def exact_join_seconds(people: pa.Table, entries: pa.Table) -> float:
    """The ceiling: bare DuckDB joining the same tables on the full ID number."""
    connection = duckdb.connect(":memory:")
    connection.register("people", people)
    connection.register("entries", entries)
    started = time.perf_counter()
    connection.execute(
        "CREATE TABLE linked AS SELECT e.entry_key, p.person_id FROM entries AS e "
        "JOIN people AS p ON p.national_id = e.id_number"
    )
    seconds = time.perf_counter() - started
    connection.close()
    return seconds


def rates(found: pa.Table, truth: pa.Table, decisions: tuple[str, ...]) -> dict[str, float | int]:
    linked = pc.is_in(found["decision"], pa.array(decisions))
    correct = pc.and_(linked, pc.equal(found["person_id"], truth["person_id"]))
    made = int(pc.sum(linked).as_py() or 0)
    right = int(pc.sum(pc.fill_null(correct, False)).as_py() or 0)
    belong = int(pc.sum(pc.is_valid(truth["person_id"])).as_py() or 0)
    return {
        "links": made,
        "correct": right,
        "wrong": made - right,
        "precision": round(right / made, 5) if made else 1.0,
        "recall": round(right / belong, 5) if belong else 1.0,
    }


def recall_by_error(found: pa.Table, truth: pa.Table) -> dict[str, dict[str, float | int]]:
    rows = {}
    belongs = pc.is_valid(truth["person_id"]).to_pylist()
    errors = truth["errors"].to_pylist()
    decisions = found["decision"].to_pylist()
    right = pc.fill_null(pc.equal(found["person_id"], truth["person_id"]), False).to_pylist()
    kinds = sorted({k for e in errors for k in e.split(",") if k})
    for kind in kinds:
        members = [i for i, e in enumerate(errors) if belongs[i] and kind in e.split(",")]
        auto = sum(1 for i in members if right[i] and decisions[i] == "auto_link")
        any_band = sum(1 for i in members if right[i] and decisions[i] != "no_link")
        rows[kind] = {
            "entries": len(members),
            "auto_recall": round(auto / len(members), 4) if members else 1.0,
            "auto_review_recall": round(any_band / len(members), 4) if members else 1.0,
        }
    return rows


def evaluate(args: argparse.Namespace) -> dict[str, object]:
    people, court_list = world(args.people, args.entries, args.seed)
    thresholds = LinkThresholds()
    started = time.perf_counter()
    found = classify(link_entries(court_list.entries, people), thresholds)
    seconds = time.perf_counter() - started
    ceiling = exact_join_seconds(people, court_list.entries)
    review = int(pc.sum(pc.equal(found["decision"], "review")).as_py() or 0)
    per_1k = seconds / args.entries * 1000
    ceiling_per_1k = ceiling / args.entries * 1000
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {sys.version.split()[0]}",
        "duckdb": duckdb.__version__,
        "splink": splink.__version__,
        "people": args.people,
        "entries": args.entries,
        "seed": args.seed,
        "entries_of_enrolled_people": int(
            pc.sum(pc.is_valid(court_list.truth["person_id"])).as_py()
        ),
        "thresholds": {"auto_link": thresholds.auto_link, "review": thresholds.review},
        "auto_links": rates(found, court_list.truth, ("auto_link",)),
        "auto_links_and_review": rates(found, court_list.truth, ("auto_link", "review")),
        "review_queue": review,
        "review_share": round(review / args.entries, 4),
        "by_error": recall_by_error(found, court_list.truth),
        "seconds": round(seconds, 3),
        "seconds_per_1k_entries": round(per_1k, 4),
        "ceiling_seconds": round(ceiling, 4),
        "ceiling_seconds_per_1k_entries": round(ceiling_per_1k, 5),
        "ratio_to_ceiling": round(seconds / ceiling, 1) if ceiling else None,
        "targets": {"auto_link_precision": 0.995, "auto_and_review_recall": 0.95},
    }


def markdown(result: dict[str, object]) -> str:
    auto = result["auto_links"]
    both = result["auto_links_and_review"]
    assert isinstance(auto, dict) and isinstance(both, dict)
    by_error = result["by_error"]
    assert isinstance(by_error, dict)
    lines = [
        "# Identity matching",
        "",
        f"`flock /work/heavy.lock .venv/bin/python benchmarks/identity_matching.py --people "
        f"{result['people']} --entries {result['entries']} --seed {result['seed']}`; "
        f"{result['machine']}, DuckDB {result['duckdb']}, Splink {result['splink']}; "
        f"{result['date']}.",
        "",
        f"{result['entries']:,} court entries ({result['entries_of_enrolled_people']:,} of "
        f"enrolled people) against {result['people']:,} enrolled people; thresholds "
        f"{result['thresholds']}.",
        "",
        "| links | made | correct | wrong | precision | recall |",
        "|---|---|---|---|---|---|",
        f"| auto-links | {auto['links']} | {auto['correct']} | {auto['wrong']} | "
        f"**{auto['precision']}** (target >= 0.995) | {auto['recall']} |",
        f"| auto-links + review | {both['links']} | {both['correct']} | {both['wrong']} | "
        f"{both['precision']} | **{both['recall']}** (target >= 0.95) |",
        "",
        f"Review queue: {result['review_queue']} entries ({result['review_share']:.1%}).",
        "",
        f"Time: {result['seconds']} s, **{result['seconds_per_1k_entries']} s per 1,000 "
        f"entries**; ceiling (bare DuckDB exact join on the full ID, same tables, same run) "
        f"{result['ceiling_seconds_per_1k_entries']} s per 1,000 entries; ratio "
        f"{result['ratio_to_ceiling']}x.",
        "",
        "Recall by kind of error (entries of enrolled people carrying it):",
        "",
        "| error | entries | auto | auto + review |",
        "|---|---|---|---|",
    ]
    for kind, row in by_error.items():
        lines.append(
            f"| {kind} | {row['entries']} | {row['auto_recall']} | {row['auto_review_recall']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--entries", type=int, default=8_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--train", action="store_true", help="fit and write the parameters")
    args = parser.parse_args()
    if args.train:
        people, court_list = world(args.people, args.entries, args.seed)
        parameters = train_parameters(court_list.entries, people, seed=args.seed)
        PARAMETERS.write_text(json.dumps(parameters, indent=2, ensure_ascii=False) + "\n")
        print(f"wrote {PARAMETERS}")
        return
    result = evaluate(args)
    (ROOT / "results").mkdir(exist_ok=True)
    (ROOT / "results" / "identity_matching.json").write_text(json.dumps(result, indent=2) + "\n")
    (ROOT / "results" / "identity_matching.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
