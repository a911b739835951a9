"""A balance is a replay of the ledger: the rulebook's base plus every entry that counts at
the end of a month, each halved (toward zero) once per `halves_every_months` months since its
own month. An entry counts from its month until the month it expires; a disputed entry counts
while pending only where the profile says so; a reversal cancels its entry exactly, since it
copies its month, expiry and decay. One vectorised function serves the award run (everyone)
and a person reading their own balance, so the stored balance and a replay agree by
construction; the tests check both against an entry-by-entry replay of their own.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

# Halving more often than this leaves nothing of any entry (points are at most 1000 each).
MAX_HALVINGS = 62


def month_index(month: str) -> int:
    """`YYYY-MM` as a count of months, so months subtract."""
    year, number = month.split("-")
    return int(year) * 12 + int(number) - 1


def _month_indices(dates: pa.ChunkedArray) -> npt.NDArray[np.int64]:
    years = pc.year(dates).to_numpy(zero_copy_only=False).astype(np.int64)
    months = pc.month(dates).to_numpy(zero_copy_only=False).astype(np.int64)
    indices: npt.NDArray[np.int64] = years * 12 + months - 1
    return indices


def replayed(entries: pa.Table, month: str, base: int, disputed_count: bool) -> pa.Table:
    """(person_id, balance) at the end of `month` for every person with an entry in
    `entries` (columns as `store.points_ledger.REPLAY_SCHEMA`)."""
    if entries.num_rows == 0:
        return pa.table(
            {"person_id": pa.array([], pa.string()), "balance": pa.array([], pa.int64())}
        )
    at = month_index(month)
    points = entries.column("points").to_numpy(zero_copy_only=False).astype(np.int64)
    period = _month_indices(entries.column("period"))
    expires = entries.column("expires_on")
    never = pc.is_null(expires).to_numpy(zero_copy_only=False)
    ends = np.where(
        never,
        np.iinfo(np.int64).max,
        _month_indices(pc.fill_null(expires, pa.scalar(0, pa.date32()))),
    )
    counts = (period <= at) & (at < ends)
    if not disputed_count:
        counts &= ~entries.column("disputed").to_numpy(zero_copy_only=False).astype(bool)
    halves = entries.column("halves_every_months")
    every = pc.fill_null(halves, 0).to_numpy(zero_copy_only=False).astype(np.int64)
    steps = np.where(every > 0, np.maximum(at - period, 0) // np.maximum(every, 1), 0)
    value = np.sign(points) * (np.abs(points) >> np.minimum(steps, MAX_HALVINGS))
    table = pa.table(
        {"person_id": entries.column("person_id"), "value": pa.array(np.where(counts, value, 0))}
    )
    summed = table.group_by("person_id").aggregate([("value", "sum")])
    balance = pc.add(summed.column("value_sum"), pa.scalar(base, pa.int64()))
    return pa.table({"person_id": summed.column("person_id"), "balance": balance})
