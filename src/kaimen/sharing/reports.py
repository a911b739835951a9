"""Risk reports: a structured summary of a person's record for a partner, under consent.

A report is point in time, as of the latest published month: it reads the monthly summaries
exactly as the score of that month does (rows known by the end of the month, windows on the
month of occurrence), for one person, in the engine. Nothing of it is stored except the
access-log entry saying who read what, when and why (and an audit row without personal data).
Consent is checked in the same transaction that reads and logs; without a live `report`
consent the answer is the same as for an unknown person, and nothing is read or computed.

Open delinquencies, as of the report month (the definition partners and the person see):

- `defaults_12m`: loan, bill, rent and utility repayments defaulted, occurring in the 12
  months ending with the report month;
- `late_90_12m`: such repayments paid 90 or more days after their due date, same window;
- `unpaid_rentals_12m`: rentals left unpaid (including damage not paid for), same window;
- `unpaid_fines`: fines issued minus fines paid, all time, never below zero (a payment
  event does not name its fine, so they are counted, as the score's feature does);
- `open_judgments`: court judgments entered minus those satisfied or overturned, all time,
  never below zero.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import ibis
from sqlalchemy import Connection, Engine, func, select

from kaimen.domain import profiles
from kaimen.domain.court_list import RESTRICTIVE
from kaimen.domain.disputes import FINAL_ITEM_STATES, ItemKind, ItemState
from kaimen.domain.errors import Conflict, Rejected
from kaimen.domain.json_values import JsonObject
from kaimen.domain.profiles import Profile
from kaimen.domain.snapshots import Snapshot
from kaimen.domain.text import readable_problem
from kaimen.dueprocess.report_section import DisputesSection, disputes_section
from kaimen.engines.embedded import ibis_connection
from kaimen.features.catalogue import DEFAULTED, Window, total_of
from kaimen.features.exclusions import ExcludedEvents, summaries_without
from kaimen.features.summaries import FAMILIES
from kaimen.scoring.exclusions import excluded_events
from kaimen.sharing.attempts import log_no_consent
from kaimen.sharing.deciding import NOT_FOUND, PersonNotFound
from kaimen.sharing.rate_limits import PartnerLimits
from kaimen.store import (
    access_log,
    alerts,
    audit,
    consents,
    court_list,
    disputes,
    scores,
    summary_manifest,
)
from kaimen.store.tables import score_runs

WINDOW_MONTHS = 12
MAX_PURPOSE = 200
RENT_AND_UTILITIES = ("rent", "utility")
LATE_90 = [f"{family}_late_90" for family in FAMILIES.values()]
DEFINITION = (
    "defaults and repayments paid 90+ days late (loan, bill, rent, utility) and rentals left "
    "unpaid, in the 12 months ending with the report month; plus fines issued and not paid "
    "and court judgments entered and not satisfied or overturned, all time"
)
COURT_LIST_NOTE = (
    "Court listings linked to the person that still stand (entered, or settled and waiting to "
    "be lifted), not taken out by a dispute. Judgments reported to kaimen as events are "
    "counted under open_judgments."
)
COURT_LIST_WITHHELD = "this jurisdiction's profile does not let a report hold court listings"
THIN_FILE_NOTE = "too little history to score yet (thin file)"
NOT_SCORED_NOTE = "not scored yet: enrolled after the latest published month"


class NothingPublished(Conflict):
    """No month has been scored and published yet, so a report has nothing to be as of."""


class ReportRejected(Rejected):
    """A report request that cannot be honoured as asked (e.g. an empty purpose)."""


@dataclass(frozen=True)
class Standing:
    status: Literal["scored", "thin_file", "not_scored"]
    band: str | None
    month: str | None  # of the snapshot the band comes from
    note: str | None


@dataclass(frozen=True)
class OnTimeRecord:
    """Rent and utility payments falling due in the window, by how they were paid."""

    on_time: int
    late: int
    defaulted: int
    due: int
    on_time_rate: float | None  # on_time / due; None when nothing fell due


@dataclass(frozen=True)
class Delinquencies:
    defaults_12m: int
    late_90_12m: int
    unpaid_rentals_12m: int
    unpaid_fines: int
    open_judgments: int
    total: int


@dataclass(frozen=True)
class ReportedListing:
    case_number: str
    court: str
    amount: str
    currency: str
    judgment_date: str
    status: str
    disputed: bool


@dataclass(frozen=True)
class Report:
    report_id: str
    person_id: str
    purpose: str | None  # None for the person's own copy
    as_of: str
    issued_at: dt.datetime
    standing: Standing
    rent_and_utilities: OnTimeRecord
    open_delinquencies: Delinquencies
    # None where the profile withholds court listings from reports.
    court_list: tuple[ReportedListing, ...] | None
    court_list_note: str
    # Open disputes and the person's statements on verified items, as the profile allows.
    disputes: DisputesSection | None = None

    def disclosed(self) -> JsonObject:
        """What a partner is shown, for the access log (everything but the person's id)."""
        shown: JsonObject = asdict(self)
        del shown["person_id"]
        # As the log has always written a time it was handed: `str` of it.
        shown["issued_at"] = str(self.issued_at)
        return shown


def latest_published_month(store: Connection) -> str | None:
    month = store.execute(select(func.max(score_runs.c.month))).scalar_one_or_none()
    return None if month is None else str(month)


def _sum(value: Any) -> Any:
    # An empty selection sums to NULL; a count of nothing is 0.
    return value.fill_null(0)


def figures(
    backend: ibis.BaseBackend,
    summary_paths: list[Path],
    person_id: str,
    as_of: str,
    excluded: ExcludedEvents | None = None,
) -> tuple[OnTimeRecord, Delinquencies]:
    """The report's figures for one person as of `as_of`, in one query over the summaries,
    with the events that do not count in the score (`excluded`: suppressed, expired, ...)
    left out as the score leaves them out."""
    if not summary_paths:
        return OnTimeRecord(0, 0, 0, 0, None), Delinquencies(0, 0, 0, 0, 0, 0)
    window = Window(as_of)
    s = summaries_without(backend, summary_paths, excluded or ExcludedEvents(), [person_id])
    # The same point-in-time rule as the features the score was built from.
    s = s.filter(
        (s.person_id == person_id) & (s.known_month <= as_of) & (s.occurred_month <= as_of)
    )
    recent = window.within(s, WINDOW_MONTHS)

    def of(status: str) -> Any:
        return _sum(total_of(s, [f"{f}_{status}" for f in RENT_AND_UTILITIES]).sum(where=recent))

    expression = s.aggregate(
        on_time=of("on_time"),
        late=of("late"),
        defaulted=of("defaulted"),
        defaults_12m=_sum(total_of(s, DEFAULTED).sum(where=recent)),
        late_90_12m=_sum(total_of(s, LATE_90).sum(where=recent)),
        unpaid_rentals_12m=_sum(s.rentals_unpaid.sum(where=recent)),
        fines_open=_sum(s.fines_issued.sum() - s.fines_paid.sum()),
        judgments_open=_sum(s.judgments_entered.sum() - s.judgments_resolved.sum()),
    )
    row = {k: int(v) for k, v in backend.to_pyarrow(expression).to_pylist()[0].items()}
    due = row["on_time"] + row["late"] + row["defaulted"]
    record = OnTimeRecord(
        row["on_time"], row["late"], row["defaulted"], due, row["on_time"] / due if due else None
    )
    fines, judgments = max(row["fines_open"], 0), max(row["judgments_open"], 0)
    delinquencies = Delinquencies(
        row["defaults_12m"],
        row["late_90_12m"],
        row["unpaid_rentals_12m"],
        fines,
        judgments,
        row["defaults_12m"] + row["late_90_12m"] + row["unpaid_rentals_12m"] + fines + judgments,
    )
    return record, delinquencies


def _standing(snapshot: Snapshot | None) -> Standing:
    if snapshot is None:
        return Standing("not_scored", None, None, NOT_SCORED_NOTE)
    if snapshot.thin_file or snapshot.band is None:
        return Standing("thin_file", None, snapshot.month, THIN_FILE_NOTE)
    return Standing("scored", snapshot.band, snapshot.month, None)


def _build(
    store: Connection,
    backend: ibis.BaseBackend,
    lake_root: Path,
    person_id: str,
    purpose: str | None,
    now: dt.datetime,
    profile: Profile,
) -> Report:
    as_of = latest_published_month(store)
    if as_of is None:
        raise NothingPublished("no month has been scored and published yet; nothing to report")
    paths = [lake_root / p for p in summary_manifest.paths(store)]
    excluded = excluded_events(store, lake_root, profile, person_id)
    record, delinquencies = figures(backend, paths, person_id, as_of, excluded)
    return Report(
        report_id=str(uuid.uuid4()),
        person_id=person_id,
        purpose=purpose,
        as_of=as_of,
        issued_at=now,
        standing=_standing(scores.latest(store, person_id)),
        rent_and_utilities=record,
        open_delinquencies=delinquencies,
        court_list=_court_list(store, person_id, profile),
        court_list_note=(
            COURT_LIST_NOTE if profile.allows_section("court_list") else COURT_LIST_WITHHELD
        ),
        disputes=disputes_section(store, person_id, profile),
    )


def _court_list(
    store: Connection, person_id: str, profile: Profile
) -> tuple[ReportedListing, ...] | None:
    """The person's standing court listings, each saying whether it is under dispute; those a
    dispute ended (suppressed, corrected), or whose link one ended, are left out."""
    if not profile.allows_section("court_list"):
        return None
    states = {
        (s.item.kind, s.item.ref): s.state for s in disputes.states_of_person(store, person_id)
    }
    listed = []
    for link, listing in court_list.linked_listings(store, person_id):
        listing_state = states.get((ItemKind.COURT_LISTING, listing.listing_id))
        link_state = states.get((ItemKind.IDENTITY_LINK, link.link_id))
        if listing.status not in RESTRICTIVE or {listing_state, link_state} & FINAL_ITEM_STATES:
            continue
        listed.append(
            ReportedListing(
                listing.case_number,
                listing.court,
                f"{listing.amount:.2f}",
                listing.currency,
                listing.judgment_date.isoformat(),
                listing.status,
                ItemState.DISPUTED in (listing_state, link_state),
            )
        )
    return tuple(listed)


def check_purpose(purpose: str) -> str:
    """The stated purpose, trimmed: 1-200 characters the person can read as they are (no
    control or invisible formatting characters, which could hide or reorder what the person
    reads in their access log: the check offers and partner names get)."""
    text = purpose.strip()
    if not 0 < len(text) <= MAX_PURPOSE:
        raise ReportRejected(f"a purpose needs 1-{MAX_PURPOSE} characters")
    problem = readable_problem(text)
    if problem is not None:
        raise ReportRejected(f"the purpose {problem}")
    return text


def issue_report(
    engine: Engine,
    lake_root: Path,
    partner_id: str,
    person_id: str,
    purpose: str,
    actor: str,
    now: dt.datetime | None = None,
    backend: ibis.BaseBackend | None = None,
    profile: Profile | None = None,
    limits: PartnerLimits | None = None,
    key_id: str | None = None,
) -> Report:
    """A partner's report on a person with a live `report` consent; logged for the person.
    With `limits`, counted per key (`key_id`, the one the partner called with) and per
    partner and person, with or without consent, before anything is read.

    Raises PersonNotFound (unknown person or no consent: the same, and the person sees the
    refused attempt in their access log), NothingPublished, RateLimited.
    """
    stated = check_purpose(purpose)
    now = now or dt.datetime.now(dt.UTC)
    if limits is not None:
        limits.check_request(key_id, partner_id, person_id, "report")

    def work(store: Connection) -> Report | PersonNotFound:
        if consents.live(store, person_id, partner_id, "report", now) is None:
            refusal = PersonNotFound(NOT_FOUND)
            log_no_consent(store, person_id, partner_id, actor, "report", "report", refusal, now)
            return refusal
        report = _build(
            store,
            backend or ibis_connection(),
            lake_root,
            person_id,
            stated,
            now,
            profile or profiles.load(),
        )
        # The column holds the consent purpose (it is short); the stated purpose, which may
        # run to 200 characters, is in what was disclosed, with everything else shown.
        access_log.record(store, person_id, actor, "report", "report", report.disclosed(), now)
        alerts.raise_many(
            store,
            [
                alerts.NewAlert(
                    person_id,
                    alerts.AlertKind.INQUIRY,
                    report.report_id,
                    {"partner_id": partner_id, "asked": "report"},
                )
            ],
            now,
        )
        audit.append(
            store,
            actor,
            "report.issued",
            subject=person_id,
            details={"report_id": report.report_id, "as_of": report.as_of},
            now=now,
        )
        return report

    issued = audit.audited_transaction(engine, work)
    if isinstance(issued, PersonNotFound):
        raise issued
    return issued


def own_report(
    engine: Engine,
    lake_root: Path,
    person_id: str,
    now: dt.datetime | None = None,
    backend: ibis.BaseBackend | None = None,
    profile: Profile | None = None,
) -> Report:
    """The person's own copy of the report a partner would get: not logged, it is theirs."""
    now = now or dt.datetime.now(dt.UTC)
    with engine.connect() as store:
        return _build(
            store,
            backend or ibis_connection(),
            lake_root,
            person_id,
            None,
            now,
            profile or profiles.load(),
        )
