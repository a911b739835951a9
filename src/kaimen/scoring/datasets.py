"""Labelled examples for training: features at month T, outcome in the 12 months after.

The outcome is serious delinquency (a default, or a payment 90+ days late) on any bill,
rent, utility or loan in months T+1..T+12, read from what happened later, never from the
features themselves. A snapshot month is usable only when its whole outcome window has
passed by the data's `as_of`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import ibis
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from kaimen.engines.parquet_files import read_parquet, to_arrow
from kaimen.features.build import features_expression
from kaimen.features.catalogue import CATALOGUE, SERIOUS, Window, total_of

OUTCOME_MONTHS = 12


def add_months(month: str, months: int) -> str:
    """'YYYY-MM' shifted by `months` (negative goes back)."""
    return Window(month).start(-months)


def labels_expression(
    backend: ibis.BaseBackend, summary_paths: Sequence[Path], snapshot: str, as_of: str
) -> ibis.Table:
    """person_id and `bad` (0/1) for outcomes in the 12 months after `snapshot`."""
    end = add_months(snapshot, OUTCOME_MONTHS)
    if end > as_of:
        raise ValueError(f"the outcome window of {snapshot} ends {end}, after the data's {as_of}")
    s = read_parquet(backend, summary_paths)
    window = (s.occurred_month > snapshot) & (s.occurred_month <= end) & (s.known_month <= as_of)
    serious = total_of(s, SERIOUS).sum(where=window)
    return s.group_by("person_id").aggregate(bad=(serious > 0).cast("int8"))


def labelled_examples(
    backend: ibis.BaseBackend, summary_paths: Sequence[Path], snapshot: str, as_of: str
) -> pa.Table:
    """Features at `snapshot` for people with a full file, joined to their outcome."""
    features = features_expression(backend, summary_paths, snapshot)
    features = features.filter(~features.thin_file)
    labels = labels_expression(backend, summary_paths, snapshot, as_of)
    joined = features.left_join(labels, "person_id").drop("person_id_right")
    joined = joined.mutate(bad=joined.bad.fill_null(0), snapshot=ibis.literal(snapshot))
    return to_arrow(backend, joined.order_by("person_id"))


def feature_arrays(table: pa.Table) -> dict[str, npt.NDArray[np.float64]]:
    """Catalogue columns as float arrays, missing values as NaN."""
    return {
        name: pc.cast(table.column(name), pa.float64()).to_numpy(zero_copy_only=False)
        for name in CATALOGUE
        if name in table.column_names
    }
