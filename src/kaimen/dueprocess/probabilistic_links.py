"""Probabilistic identity resolution: court listings without a full ID number, matched to
enrolled people by name, birth date and the visible digits of the number (Splink, through
`kaimen.matching`), after a court list's exact links.

1. The listings never linked whose number is masked or unverifiable (of one import, or all)
   are read and decrypted, in memory only.
2. Candidates are narrowed in the store before anything of theirs is decrypted: active
   people born on a listing's birth date (given, or read from the number), or whose name
   shares a listing's name key (its Pinyin syllables, sorted: the lookup hash of an
   enrolled name starts with the keyed hash of that key, see `store/name_index.py`). These
   are the linkage's own birth-date and name blocks, and the name block holds its
   region-and-name block too. Its ID-tail block has no narrowing of its own (the store
   keeps no hash of the tail): a listing whose name key differs from the person's (no
   name, a Pinyin typo) and whose number hides the birth date is not compared. On the
   simulated list (20,000 people, 1,000 entries) the auto-links were the same as with
   the whole population and 2 of 591 true links that had reached review were lost, while
   32 wrong review items (tail-only namesakes) went too. Candidates' ID numbers and names
   are decrypted in bulk, held in memory only and never logged.
3. `link_entries` scores each listing's candidates with the shipped model, with the prior
   and name frequencies of the whole active population (`Population`), so narrowing
   changes which pairs are scored, not what a pair scores. `classify` splits them with the
   documented thresholds (`LinkThresholds`: auto-link at 0.99, review from 0.30).
4. `identity_links.apply_matches` writes the auto-links (method `probabilistic`, its
   match probability, approved by `system`) and queues the middle band for review, in its
   own transaction with its audit row (counts only).

The share of listings that belong to an enrolled person (the linkage's `enrolled_share`) is
estimated from the listings with a full ID number, where the answer is known: the share of
them that an exact link found, smoothed as (linked + 1) / (full + 2), so it is 0.5 before
any list is held and never 0 or 1.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Engine

from kaimen.domain.court_list import ID_VALUE_KIND, NAME_KIND
from kaimen.domain.person_names import NAME_KIND as PERSON_NAME_KIND
from kaimen.dueprocess.identity_links import Candidate, apply_matches
from kaimen.input_files import text_array
from kaimen.matching.linkage import classify, entry_keys, link_entries
from kaimen.matching.records import LinkDecision, LinkThresholds, Population
from kaimen.store import court_list, name_index
from kaimen.store.identity_vault import IdentityVault

ENROLLED_ID_KIND = "cn_resident_id"


@dataclass(frozen=True)
class Resolution:
    """What one resolution did: listings compared, candidates compared with them, links
    made, candidates queued for review, the share used, and the people now linked (the
    caller re-scores them)."""

    listings: int
    candidates: int
    auto_linked: int
    queued: int
    enrolled_share: float
    people_changed: tuple[str, ...]


def _listings(engine: Engine, vault: IdentityVault, file_id: int | None) -> pa.Table:
    """The listings to resolve as linkage entries (clear values: memory only)."""
    with engine.connect() as store:
        listings = court_list.unlinked_without_full_id(store, file_id)
    return pa.table(
        {
            "entry_key": text_array([x.listing_id for x in listings]),
            "name": text_array(vault.decrypt_many(NAME_KIND, [x.name_encrypted for x in listings])),
            "id_number": text_array(
                vault.decrypt_many(ID_VALUE_KIND, [x.id_encrypted for x in listings])
            ),
            "birth_date": pa.array([x.birth_date for x in listings], pa.date32()),
        }
    )


def enrolled_share(linked: int, full: int) -> float:
    """The smoothed share of listings with a full ID number that an exact link found."""
    return (linked + 1) / (full + 2)


def _people(vault: IdentityVault, sealed: name_index.SealedCandidates) -> pa.Table:
    """Candidates as linkage people (clear values: memory only)."""
    named = [token for token in sealed.name_encrypted if token is not None]
    names = iter(vault.decrypt_many(PERSON_NAME_KIND, named))
    return pa.table(
        {
            "person_id": text_array(sealed.person_id),
            "name": text_array([None if t is None else next(names) for t in sealed.name_encrypted]),
            "national_id": text_array(
                vault.decrypt_many(ENROLLED_ID_KIND, sealed.national_id_encrypted)
            ),
            "birth_date": pc.cast(text_array(sealed.birth_date), pa.date32()),
        }
    )


def _candidates(matches: pa.Table, decision: LinkDecision) -> list[Candidate]:
    chosen = matches.filter(pc.equal(matches["decision"], decision.value))
    return [
        Candidate(listing_id, person_id, probability)
        for listing_id, person_id, probability in zip(
            chosen["entry_key"].to_pylist(),
            chosen["person_id"].to_pylist(),
            chosen["match_probability"].to_pylist(),
            strict=True,
        )
    ]


def resolve_listings(
    engine: Engine,
    vault: IdentityVault,
    actor: str,
    now: dt.datetime | None = None,
    file_id: int | None = None,
    thresholds: LinkThresholds | None = None,
) -> Resolution:
    """Resolve the unlinked listings without a full ID number (of import `file_id`, or all)
    against enrolled people; see the module docstring."""
    entries = _listings(engine, vault, file_id)
    with engine.connect() as store:
        linked, full = court_list.exact_link_counts(store)
        share = enrolled_share(linked, full)
        if not entries.num_rows:
            return Resolution(0, 0, 0, 0, share, ())
        keys = entry_keys(entries)
        prefixes = name_index.key_prefixes(vault, pc.drop_null(keys["name_key"]).to_pylist())
        births = pc.drop_null(keys["birth_date"]).to_pylist()
        sealed = name_index.candidates(store, births, prefixes)
        active, named = name_index.population_counts(store)
    if not sealed.person_id:
        return Resolution(entries.num_rows, 0, 0, 0, share, ())
    people = _people(vault, sealed)
    population = Population(people=max(active, 1), named=min(named, max(active, 1)))
    matches = classify(
        link_entries(entries, people, enrolled_share=share, population=population), thresholds
    )
    del people, entries  # clear values go as soon as they are compared
    report = apply_matches(
        engine,
        _candidates(matches, LinkDecision.AUTO_LINK),
        _candidates(matches, LinkDecision.REVIEW),
        actor,
        now,
    )
    return Resolution(
        matches.num_rows,
        len(sealed.person_id),
        report.linked,
        report.queued,
        share,
        report.people_changed,
    )
