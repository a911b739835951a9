"""`catalogue.total`: counts summed as float64 and made whole again, on the engine."""

from __future__ import annotations

import decimal

import ibis
import pyarrow as pa

from kaimen.engines.embedded import ibis_connection
from kaimen.features.catalogue import sum_where, total


def test_whole_numbers_sum_to_a_whole_number_exactly() -> None:
    # 2**52 + 1 is past float32's and near float64's last exact whole numbers: the parts
    # and the sum are exact in float64, which the cast back to int64 keeps.
    big = 2**51
    rows = pa.table(
        {"person_id": ["a", "a", "a", "b"], "n": pa.array([big, big, 1, 3], pa.int64())}
    )
    t = ibis.memtable(rows)
    summed = t.group_by("person_id").aggregate(
        n=total(t.n), recent=sum_where(t.n, t.n < 10), none=sum_where(t.n, t.n > 10**18)
    )
    out = ibis_connection().to_pyarrow(summed.order_by("person_id"))
    assert out.schema.field("n").type == pa.int64()
    assert out.column("n").to_pylist() == [2**52 + 1, 3]
    assert out.column("recent").to_pylist() == [1, 3]
    assert out.column("none").to_pylist() == [None, None]


def test_amounts_keep_their_exact_decimal_sum() -> None:
    amounts = pa.array([decimal.Decimal("0.10")] * 3, pa.decimal128(18, 2))
    t = ibis.memtable(pa.table({"person_id": ["a"] * 3, "amount": amounts}))
    out = ibis_connection().to_pyarrow(t.group_by("person_id").aggregate(s=total(t.amount)))
    assert out.column("s").to_pylist() == [decimal.Decimal("0.30")]
