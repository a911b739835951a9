"""Identity resolution in the store (run by hand): a court list's listings without a full ID
number resolved against enrolled people, as `kaimen courtlist import` does after its exact
links.

    flock /work/heavy.lock .venv/bin/python benchmarks/identity_resolution.py --people 100000 \
        --entries 1000 [--database postgresql+psycopg://postgres@127.0.0.1:5432/h_resolve_bench]

A simulated population with names is enrolled from a people.csv (`enrol_file`); a simulated
court list (`kaimen.simulate.court_list`) is imported without its resolution step, then
`resolve_listings` runs on its own and is timed. Entries the court-list import refuses (no
name, no ID number) are left out. Reported: the listings resolved, candidates narrowed in the
store, precision and recall of the links and review items the store holds against the known
truth, and the wall time, against two measures of the same work in the same run:

- the ceiling: `link_entries` on the same listings and the same candidates, already decrypted
  in memory (what is left when the store, the vault and the writes cost nothing);
- the whole population: `link_entries` on the same listings against every enrolled person in
  memory, as the matching benchmark does (what narrowing saves).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from kaimen.dueprocess import court_import, probabilistic_links
from kaimen.dueprocess.probabilistic_links import Resolution, resolve_listings
from kaimen.enrolment import enrol_file
from kaimen.matching.linkage import classify, link_entries
from kaimen.matching.records import Population
from kaimen.simulate.court_list import enrolled_people, make_court_list
from kaimen.simulate.names import population_names
from kaimen.simulate.population import make_population
from kaimen.store import court_list, name_index
from kaimen.store.database import connect, migrate
from kaimen.store.identity_vault import IdentityVault

ROOT = Path(__file__).resolve().parent
END = dt.date(2026, 7, 1)
NOW = dt.datetime(2026, 7, 2, tzinfo=dt.UTC)
IMPORT_COLUMNS = ("name", "id_number", "case_number", "court", "amount", "judgment_date", "status")


def _no_resolution(*_: object, **__: object) -> Resolution:
    return Resolution(0, 0, 0, 0, 0.5, ())


def evaluate(args: argparse.Namespace, url: str, scratch: str) -> dict[str, object]:
    population = make_population(np.random.default_rng(args.seed), args.people, args.seed, END)
    names = population_names(args.seed, population.national_id)
    court = make_court_list(np.random.default_rng([args.seed, 1]), population, names, args.entries)
    importable = pc.and_(
        pc.is_valid(court.entries["name"]), pc.is_valid(court.entries["id_number"])
    )
    entries = court.entries.filter(importable)
    truth = court.truth.filter(importable)
    engine = connect(url)
    migrate(engine)
    vault = IdentityVault(bytes(range(32)))
    people_file = Path(scratch) / "people.csv"
    pacsv.write_csv(population.enrolment_table().append_column("name", names), people_file)
    started = time.perf_counter()
    enrol_file(engine, vault, people_file, "bench", NOW)
    enrol_seconds = time.perf_counter() - started
    listing_rows = [
        {k: (None if v is None else str(v)) for k, v in row.items() if k in IMPORT_COLUMNS}
        for row in entries.to_pylist()
    ]
    real = court_import.resolve_listings
    court_import.resolve_listings = _no_resolution  # type: ignore[assignment]
    try:
        started = time.perf_counter()
        imported = court_import.import_entries(engine, vault, listing_rows, "bench", NOW)
        import_seconds = time.perf_counter() - started
    finally:
        court_import.resolve_listings = real
    # The same listings, read (untimed) before they are resolved, for the measures below.
    listings = probabilistic_links._listings(engine, vault, None)
    started = time.perf_counter()
    resolved = resolve_listings(engine, vault, "bench", NOW)
    seconds = time.perf_counter() - started

    # The same work with the store and vault free: the listings and candidates in memory.
    with engine.connect() as store:
        keys = probabilistic_links.entry_keys(listings)
        prefixes = name_index.key_prefixes(vault, pc.drop_null(keys["name_key"]).to_pylist())
        sealed = name_index.candidates(
            store, pc.drop_null(keys["birth_date"]).to_pylist(), prefixes
        )
        active, named = name_index.population_counts(store)
    candidates = probabilistic_links._people(vault, sealed)
    started = time.perf_counter()
    classify(
        link_entries(
            listings,
            candidates,
            enrolled_share=resolved.enrolled_share,
            population=Population(active, named),
        )
    )
    ceiling = time.perf_counter() - started
    everyone = enrolled_people(population, names)
    started = time.perf_counter()
    classify(link_entries(listings, everyone, enrolled_share=resolved.enrolled_share))
    whole = time.perf_counter() - started

    # What the store now holds, against the truth.
    with engine.connect() as store:
        cases = list(
            zip(entries["court"].to_pylist(), entries["case_number"].to_pylist(), strict=True)
        )
        held = court_list.listings_for_cases(store, cases)
        by_listing = {listing.listing_id: key for key, listing in held.items()}
        live = court_list.live_links_of_listings(store, list(by_listing))
        pending = court_list.pending_reviews(store, 1_000_000)
    true_person = dict(zip(cases, truth["person_id"].to_pylist(), strict=True))
    masked = {by_listing[i] for i in listings["entry_key"].to_pylist()}
    belong = sum(1 for case in masked if true_person[case] is not None)

    def score(pairs: list[tuple[tuple[str, str], str]]) -> dict[str, float | int]:
        right = sum(1 for case, person in pairs if true_person[case] == person)
        return {
            "links": len(pairs),
            "correct": right,
            "wrong": len(pairs) - right,
            "precision": round(right / len(pairs), 5) if pairs else 1.0,
            "recall": round(right / belong, 5) if belong else 1.0,
        }

    auto = [
        (by_listing[k.listing_id], k.person_id)
        for k in live.values()
        if k.method == "probabilistic"
    ]
    review = [(by_listing[r.listing_id], r.person_id) for r, _ in pending]
    engine.dispose()
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {sys.version.split()[0]}",
        "database": url.split(":", 1)[0].split("+")[0],
        "people": args.people,
        "entries": args.entries,
        "importable_entries": entries.num_rows,
        "seed": args.seed,
        "enrol_seconds": round(enrol_seconds, 2),
        "import_seconds_without_resolution": round(import_seconds, 3),
        "exact_links": imported.linked,
        "listings_resolved": resolved.listings,
        "listings_of_enrolled_people": belong,
        "candidates": resolved.candidates,
        "enrolled_share": round(resolved.enrolled_share, 4),
        "auto_links": score(auto),
        "auto_links_and_review": score(auto + review),
        "review_queue": resolved.queued,
        "seconds": round(seconds, 3),
        "seconds_per_1k_listings": round(seconds / max(resolved.listings, 1) * 1000, 3),
        "ceiling_seconds": round(ceiling, 3),
        "ratio_to_ceiling": round(seconds / ceiling, 2) if ceiling else None,
        "whole_population_seconds": round(whole, 3),
        "ratio_to_whole_population": round(seconds / whole, 2) if whole else None,
    }


def markdown(results: list[dict[str, object]]) -> str:
    lines = [
        "# Identity resolution in the store",
        "",
        "`flock /work/heavy.lock .venv/bin/python benchmarks/identity_resolution.py --people N "
        "--entries M [--database URL]`: listings without a full ID number resolved by "
        "`resolve_listings` (narrowing in the store, bulk decryption, Splink, links and review "
        "rows written), against the ceiling (`link_entries` on the same listings and "
        "candidates already in memory) and against linking with the whole population in "
        "memory, in the same run.",
        "",
        "| database | people | listings resolved | candidates | auto-links (precision / recall) "
        "| + review (precision / recall) | queue | seconds | ceiling | ratio | whole population "
        "| ratio |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        auto, both = r["auto_links"], r["auto_links_and_review"]
        assert isinstance(auto, dict) and isinstance(both, dict)
        lines.append(
            f"| {r['database']} | {r['people']:,} | {r['listings_resolved']:,} | "
            f"{r['candidates']:,} | {auto['links']} ({auto['precision']} / {auto['recall']}) | "
            f"{both['links']} ({both['precision']} / {both['recall']}) | {r['review_queue']} | "
            f"**{r['seconds']}** | {r['ceiling_seconds']} | {r['ratio_to_ceiling']}x | "
            f"{r['whole_population_seconds']} | {r['ratio_to_whole_population']}x |"
        )
    first = results[0]
    lines += [
        "",
        f"{first['machine']}; {first['date']}; seed {first['seed']}; {first['entries']:,} "
        f"simulated entries of which {first['importable_entries']:,} importable (with a name "
        "and an ID number); recall counts the masked listings that truly belong to an "
        "enrolled person.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--entries", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database", action="append", help="PostgreSQL URL (repeatable)")
    parser.add_argument("--out", default=str(ROOT / "results" / "identity_resolution"))
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        urls = [f"sqlite:///{scratch}/bench.sqlite", *(args.database or [])]
        for url in urls:
            result = evaluate(args, url, scratch)
            print(json.dumps(result, indent=2))
            results.append(result)
    Path(args.out + ".json").write_text(json.dumps(results, indent=2) + "\n")
    Path(args.out + ".md").write_text(markdown(results))


if __name__ == "__main__":
    main()
