"""`kaimen fairness`: does the model rank, approve and predict alike for women and men, for
every age band and every province?

The month is the latest whose 12-month outcome window the lake holds (or the one asked for):
the model scores everyone with a full file there from features rebuilt point in time, and
their outcomes are those training uses. Groups come from the fairness audit's own table
(`store/fairness_traits.py`, which only this module may import): sex and province read from
the ID number at enrolment, encrypted, and never a model input; the age band comes from the
birth date at the month's end. Approval rates are taken at each live offer's required score.

People enrolled before that table existed get their row here, at the start of each report:
their ID number is decrypted with the vault's secret, and only sex and province are kept.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import ibis
import numpy as np
import pyarrow as pa
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from kaimen.domain.audit_groups import (
    AGE_BANDS,
    SEXES,
    TRAITS_KIND,
    age_band,
    age_on,
    region_label,
    split_traits,
    traits_of,
)
from kaimen.domain.errors import Conflict, Rejected
from kaimen.domain.months import month_of_instant
from kaimen.engines.parquet_files import read_parquet
from kaimen.features.catalogue import Window
from kaimen.features.summary_build import refresh_summaries
from kaimen.model.fairness import MIN_GROUP, Cutoff, FairnessReport, fairness_figures
from kaimen.model.fairness_markdown import render_markdown
from kaimen.model.scorecard import published_score
from kaimen.scoring.datasets import OUTCOME_MONTHS, add_months, feature_arrays, labelled_examples
from kaimen.scoring.lake_summaries import summary_paths
from kaimen.scoring.models import load_model, wrap
from kaimen.scoring.training import probability_of_bad
from kaimen.store import audit, fairness_traits, offers
from kaimen.store.fairness_traits import SealedTraits
from kaimen.store.identity_vault import IdentityVault
from kaimen.telemetry.steps import note_step, timed_step

# The report's record the doors render comes with the service.
__all__ = ["FairnessReport", "FairnessUnavailable", "fairness_report", "render_markdown"]

METHOD = (
    "Population: every active person with a full file (thin files are not scored) in the "
    "month, scored by the model from features rebuilt as known at the month's end.",
    "Outcome: serious delinquency (a default, or a payment 90 or more days late) in the 12 "
    "months after the month.",
    "AUC: the chance a person who went bad scored below one who did not, within the group.",
    "Calibration: the share who went bad against the mean probability of bad the model gave "
    "them; z is their difference over its standard deviation (|z| > 1.96 is flagged).",
    "Approval rate: the share scoring at or above each live offer's required score (its "
    "minimum score or band floor; sub-score minimums are not applied).",
    "Disparate-impact ratio: a group's approval rate over that of the best-approved reported "
    "group of the same attribute; below 0.8 breaks the four-fifths rule and is flagged.",
    "The four-fifths rule is a screen, not a verdict: for a small group or a low approval "
    "rate, chance alone moves the ratio a lot; read a flag beside the group's size and its "
    "calibration (a group approved less but calibrated is scored for its observed risk).",
    "Sex and province come from the ID number (17th digit; first two digits); the age band "
    "from the birth date at the month's end. None of them is a model input.",
)


class FairnessUnavailable(Conflict):
    """No month with known outcomes to judge the model on."""


class BadGroupSize(Rejected):
    """The smallest group to report must be a positive whole number."""


def _lake_span(
    backend: ibis.BaseBackend, paths: list[Path], now: dt.datetime
) -> tuple[str, str] | None:
    """The first month the lake holds events for, and the last that has ended."""
    if not paths:
        return None
    summaries = read_parquet(backend, paths)
    span = summaries.aggregate(
        first=summaries.occurred_month.min(), latest=summaries.occurred_month.max()
    ).to_pyarrow()
    first, latest = span.column("first")[0].as_py(), span.column("latest")[0].as_py()
    if latest is None or first is None:
        return None
    return str(first), min(str(latest), add_months(month_of_instant(now), -1))


def _month(span: tuple[str, str] | None, asked: str | None) -> str:
    if span is None:
        raise FairnessUnavailable("the lake holds no events: nothing to judge the model on")
    first, reach = span
    if asked is None:
        return add_months(reach, -OUTCOME_MONTHS)
    Window(asked)  # validates the month
    if asked < first:
        raise FairnessUnavailable(
            f"the lake begins at {first}: there is nothing to judge the model on in {asked}"
        )
    if add_months(asked, OUTCOME_MONTHS) > reach:
        raise FairnessUnavailable(
            f"the outcomes of {asked} ({add_months(asked, 1)}..{add_months(asked, OUTCOME_MONTHS)}) "
            f"are not known yet: the lake reaches {reach}; the latest month with known outcomes "
            f"is {add_months(reach, -OUTCOME_MONTHS)}"
        )
    return asked


def backfill(engine: Engine, vault: IdentityVault, actor: str, now: dt.datetime) -> int:
    """Give each active person enrolled before the fairness table existed their row, from
    their ID number (decrypted for memory only); returns how many were added."""
    try:
        return _backfill(engine, vault, actor, now)
    except IntegrityError:
        # Another report filled the same people at the same moment: their rows are there.
        return 0


def _backfill(engine: Engine, vault: IdentityVault, actor: str, now: dt.datetime) -> int:
    with engine.begin() as store:
        missing = fairness_traits.without_traits(store)
        if not missing:
            return 0
        ids = vault.decrypt_many("cn_resident_id", [cipher for _, cipher in missing])
        sealed = vault.encrypt_many(TRAITS_KIND, [traits_of(v) for v in ids])
        rows = [
            SealedTraits(person_id, traits)
            for (person_id, _), traits in zip(missing, sealed, strict=True)
        ]
        fairness_traits.insert_many(store, rows, now)
        audit.append(store, actor, "fairness.backfilled", details={"people": len(rows)}, now=now)
    return len(rows)


def _groups(
    engine: Engine, vault: IdentityVault, person_ids: list[str], month: str
) -> dict[str, list[str]]:
    """Each person's sex, age band and region label ('' for one with no row: opted out)."""
    with engine.connect() as store:
        audited = fairness_traits.audited_people(store)
    opened = [
        split_traits(t)
        for t in vault.decrypt_many(TRAITS_KIND, [a.traits.traits_encrypted for a in audited])
    ]
    month_end = dt.date.fromisoformat(add_months(month, 1) + "-01") - dt.timedelta(days=1)
    by_person = {
        a.traits.person_id: (sex, age_band(age_on(a.birth_date, month_end)), region_label(region))
        for a, (sex, region) in zip(audited, opened, strict=True)
    }
    rows = [by_person.get(p, ("", "", "")) for p in person_ids]
    return {
        "sex": [r[0] for r in rows],
        "age_band": [r[1] for r in rows],
        "region": [r[2] for r in rows],
    }


def _cutoffs(engine: Engine) -> list[Cutoff]:
    with engine.connect() as store:
        live = offers.open_offers(store)
    return [Cutoff(name=f"offer {o.offer_id} ({o.name})", score=o.required_score) for o in live]


@timed_step("fairness")
def fairness_report(
    engine: Engine,
    backend: ibis.BaseBackend,
    lake_root: Path,
    vault: IdentityVault,
    actor: str,
    model_version: str | None = None,
    month: str | None = None,
    min_group: int | None = None,
    out_dir: Path | None = None,
    now: dt.datetime | None = None,
) -> FairnessReport:
    """The fairness report of the champion (or `model_version`) on `month` (default: the
    latest with known outcomes), audit-logged; written to `out_dir` as JSON and Markdown
    (`<version>_fairness.json`, which `kaimen monitor` adds to the model card) when given."""
    min_group = MIN_GROUP if min_group is None else min_group
    if isinstance(min_group, bool) or not isinstance(min_group, int) or min_group < 1:
        raise BadGroupSize(f"the smallest group to report must be 1 or more, not {min_group!r}")
    now = now or dt.datetime.now(dt.UTC)
    version, loaded = load_model(engine, model_version, lake_root=lake_root)
    model = wrap(loaded)
    backfill(engine, vault, actor, now)
    refresh_summaries(engine, backend, lake_root, now)
    paths = summary_paths(engine, lake_root)
    span = _lake_span(backend, paths, now)
    chosen = _month(span, month)
    assert span is not None  # _month refused an empty lake
    reach = span[1]
    table: pa.Table = labelled_examples(backend, paths, chosen, reach)
    raw = model.raw_scores(feature_arrays(table))
    groups = _groups(engine, vault, table.column("person_id").to_pylist(), chosen)
    audited = np.asarray([bool(s) for s in groups["sex"]])
    if not audited.any():
        raise FairnessUnavailable(f"nobody with a full file in {chosen} is in the audit")
    bad = np.asarray(table.column("bad"), dtype=np.int64)[audited]
    figures = fairness_figures(
        bad,
        published_score(raw[audited]),
        probability_of_bad(raw[audited]),
        {
            k: [v for v, kept in zip(values, audited, strict=True) if kept]
            for k, values in groups.items()
        },
        _cutoffs(engine),
        min_group,
        orders={"sex": SEXES, "age_band": [name for name, _ in AGE_BANDS]},
    )
    method = [
        *METHOD,
        f"Groups of fewer than {min_group} people are suppressed: none of their figures is "
        "given, and none is the reference for the ratio.",
    ]
    if not figures.cutoffs:
        method.append("No offer is live, so no approval rate is given.")
    report = FairnessReport(
        format="kaimen.fairness",
        model=version,
        kind=model.kind,
        month=chosen,
        outcomes=f"{add_months(chosen, 1)}..{add_months(chosen, OUTCOME_MONTHS)}",
        generated_at=now.astimezone(dt.UTC).replace(microsecond=0).isoformat(),
        figures=figures,
        method=tuple(method),
    )
    text = report.to_json()
    if out_dir is not None:
        write_report(report, out_dir)
    with engine.begin() as store:
        audit.append(
            store,
            actor,
            "model.fairness",
            subject=version,
            details={
                "month": chosen,
                "people": figures.people,
                "findings": len(figures.findings),
                "report_sha256": hashlib.sha256(text.encode()).hexdigest(),
            },
            now=now,
        )
    note_step(model=version, month=chosen, findings=len(figures.findings))
    return report


def fairness_path(out_dir: Path, version: str) -> Path:
    return out_dir / f"{version}_fairness.json"


def latest_report(out_dir: Path, version: str) -> FairnessReport | None:
    """The fairness report last written for `version` in `out_dir`, if any (the model card's
    "Fairness" section)."""
    path = fairness_path(out_dir, version)
    if not path.exists():
        return None
    return FairnessReport.from_json(path.read_text(encoding="utf-8"))


def write_report(report: FairnessReport, out_dir: Path) -> tuple[Path, Path]:
    """`<version>_fairness.json` and `.md` in `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = fairness_path(out_dir, report.model)
    markdown_path = json_path.with_suffix(".md")
    for path, text in ((json_path, report.to_json()), (markdown_path, render_markdown(report))):
        partial = path.with_name(path.name + ".partial")
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)
    return json_path, markdown_path
