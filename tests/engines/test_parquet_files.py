"""Reading the listed lake files: a file the store lists but the lake lacks is a refusal that
says so, not the engine's error (a moved lake stopped `kaimen score` with "an unexpected
error: IOException")."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kaimen.domain.errors import LakeIncomplete
from kaimen.engines.embedded import ibis_connection
from kaimen.engines.parquet_files import read_parquet


def test_listed_files_are_read_and_a_missing_one_is_named(tmp_path: Path) -> None:
    present = tmp_path / "a.parquet"
    pq.write_table(pa.table({"x": [1, 2]}), present)
    backend = ibis_connection()
    assert read_parquet(backend, [present]).count().execute() == 2
    gone = tmp_path / "lake" / "b.parquet"
    with pytest.raises(LakeIncomplete, match=r"1 of the 2 lake files the store lists") as caught:
        read_parquet(backend, [present, gone])
    assert str(gone) in str(caught.value) and caught.value.status == 503
