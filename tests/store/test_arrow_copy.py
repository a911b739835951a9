"""COPY in and out of PostgreSQL from Arrow: every value back exactly as it went in."""

import pyarrow as pa
import pytest
from sqlalchemy import create_engine, text

from kaimen.store import arrow_copy

AWKWARD = [
    "plain",
    "",
    None,
    "quotes \" and '",
    "back\\slash",
    "tab\there",
    "new\nline",
    "carriage\rreturn",
    "\\N",
    "\\",
    '[["late_payments_12m",31,2.0,"said \\"no\\""]]',
    "汉字 and ünïcode",
]


def _rows(count: int) -> pa.Table:
    texts = [AWKWARD[i % len(AWKWARD)] for i in range(count)]
    return pa.table(
        {
            "label": pa.array(texts, pa.string()),
            "amount": pa.array([None if i % 5 == 0 else i - 7 for i in range(count)], pa.int64()),
            "flag": pa.array([None if i % 7 == 0 else i % 2 == 0 for i in range(count)]),
        }
    )


@pytest.mark.parametrize("count", [1, len(AWKWARD), arrow_copy.COPY_CHUNK + 3])
def test_every_value_comes_back_exactly(postgres_url: str, count: int) -> None:
    rows = _rows(count)
    engine = create_engine(postgres_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "CREATE TABLE t (tag text NOT NULL, label text, amount bigint, flag boolean, "
                    "position serial)"
                )
            )
            # A slice of a larger table: its buffers are shared with the rest.
            arrow_copy.copy_in(connection, "t", rows.slice(0, count), {"tag": "a\tb\\c"})
        with engine.connect() as connection:
            back = connection.execute(
                text("SELECT tag, label, amount, flag FROM t ORDER BY position")
            ).all()
    finally:
        engine.dispose()
    assert [tuple(r) for r in back] == [
        ("a\tb\\c", label, amount, flag)
        for label, amount, flag in zip(
            *(rows.column(n).to_pylist() for n in rows.column_names), strict=True
        )
    ]


def _field(sent: str) -> str | None:
    if sent == "\\N":
        return None
    escapes = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r"}
    out, i = [], 0
    while i < len(sent):
        if sent[i] == "\\":
            out.append(escapes[sent[i + 1]])
            i += 2
        else:
            out.append(sent[i])
            i += 1
    return "".join(out)


def test_a_slice_sends_only_its_own_rows_escaped() -> None:
    rows = _rows(40)
    middle = rows.slice(10, 12)
    sent = arrow_copy.copy_text(middle.to_batches()[0], {}).to_pybytes().decode()
    lines = sent.split("\n")
    assert lines.pop() == ""
    fields = [line.split("\t") for line in lines]
    assert [_field(f[0]) for f in fields] == middle.column("label").to_pylist()
    assert [_field(f[1]) for f in fields] == [
        None if v is None else str(v) for v in middle.column("amount").to_pylist()
    ]


# More than one text value can hold, as PostgreSQL says it (54000) before allocating it.
TOO_LONG = "SELECT repeat('xx', 1000000000) FROM ({query}) AS q WHERE {line} IS NOT NULL"


@pytest.mark.parametrize("aggregate", [arrow_copy.AGGREGATE, TOO_LONG])
def test_rows_read_back_exactly(
    postgres_url: str, aggregate: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(arrow_copy, "AGGREGATE", aggregate)
    rows = _rows(len(AWKWARD) * 2).append_column(
        "comma", pa.array(["a,b", '"', "x\ny", None] * (len(AWKWARD) // 2), pa.string())
    )
    schema = pa.schema([("label", pa.string()), ("amount", pa.int64()), ("comma", pa.string())])
    engine = create_engine(postgres_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text("CREATE TABLE t (label text, amount bigint, flag boolean, comma text)")
            )
            arrow_copy.copy_in(connection, "t", rows)
            back = arrow_copy.copy_out(
                connection,
                "SELECT label, amount, comma FROM t WHERE amount IS NULL OR amount > {}",
                [-100],
                schema,
            )
            # Still in a usable transaction when the rows had to come by COPY.
            connection.execute(text("INSERT INTO t (label) VALUES ('after')"))
            none = arrow_copy.copy_out(
                connection, "SELECT label, amount, comma FROM t WHERE amount > {}", [10**6], schema
            )
    finally:
        engine.dispose()
    expected = rows.select(schema.names).cast(schema)
    assert sorted(back.to_pylist(), key=repr) == sorted(expected.to_pylist(), key=repr)
    assert none.num_rows == 0 and none.schema == schema
