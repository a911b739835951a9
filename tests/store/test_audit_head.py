"""The signed head: written after each commit that moved the chain, checked by `verify`."""

import datetime as dt
import json
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, text, update

from kaimen.domain.errors import AuditChainBroken, AuditHeadInvalid
from kaimen.store import audit, audit_head
from kaimen.store.tables import audit_log, identities

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def witness(engine: Engine, tmp_path: Path) -> audit_head.HeadWitness:
    found = audit_head.HeadWitness(
        tmp_path / "heads" / "audit-heads.log", audit_head.HeadSigner(audit_head.new_key())
    )
    audit_head.attach(engine, found)
    return found


def _append(engine: Engine, count: int, per_transaction: int = 1) -> None:
    for i in range(count):
        with engine.begin() as connection:
            for j in range(per_transaction):
                audit.append(connection, "tester", "thing.done", subject=f"P{i}-{j}", now=T0)


def _heads(witness: audit_head.HeadWitness) -> list[audit_head.HeadLine]:
    return list(audit_head.read_heads(witness.file.path, witness.file.public_key))


def _rows(engine: Engine) -> dict[int, str]:
    with engine.connect() as connection:
        found = connection.execute(audit_log.select()).all()
    return {row.seq: row.row_hash for row in found}


def test_each_commit_that_moves_the_chain_writes_one_signed_head(
    engine: Engine, witness: audit_head.HeadWitness
) -> None:
    _append(engine, 3, per_transaction=2)
    heads = _heads(witness)
    rows = _rows(engine)
    assert [(h.number, h.head.seq) for h in heads] == [(1, 2), (2, 4), (3, 6)]
    assert all(h.head.row_hash == rows[h.head.seq] for h in heads)
    assert audit.verify(engine, heads=heads) == 6
    newest = audit_head.newest(witness.file.path, witness.file.public_key)
    assert newest is not None and newest.seq == 6


def test_a_transaction_that_appends_nothing_or_rolls_back_writes_no_head(
    engine: Engine, witness: audit_head.HeadWitness
) -> None:
    with engine.begin() as connection:
        connection.execute(text("SELECT 1"))
    with pytest.raises(RuntimeError), engine.begin() as connection:
        audit.append(connection, "tester", "thing.done", now=T0)
        raise RuntimeError("the service failed after its audit row")
    assert not witness.file.path.exists()
    assert audit.verify(engine) == 0


def _refused_at_commit(engine: Engine) -> None:
    """Append a row in a transaction that only the commit refuses (a deferred constraint)."""
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            audit.append(connection, "tester", "thing.done", now=T0)
            # Inside the transaction (pysqlite begins it at the first write): it lasts to the
            # commit, which then fails.
            connection.execute(text("PRAGMA defer_foreign_keys=ON"))
            connection.execute(
                identities.insert().values(
                    person_id="nobody",
                    kind="phone",
                    lookup_hash="h",
                    encrypted_value="v",
                    created_at=T0,
                )
            )
        else:
            connection.execute(
                text(
                    "CREATE TEMP TABLE once (n int UNIQUE DEFERRABLE INITIALLY DEFERRED)"
                    " ON COMMIT DROP"
                )
            )
            audit.append(connection, "tester", "thing.done", now=T0)
            connection.execute(text("INSERT INTO once VALUES (1), (1)"))


def test_a_commit_the_database_refuses_writes_no_head(
    engine: Engine, witness: audit_head.HeadWitness
) -> None:
    _append(engine, 1)
    with pytest.raises(Exception, match=r"(?i)foreign key|duplicate key"):
        _refused_at_commit(engine)
    assert [h.head.seq for h in _heads(witness)] == [1]
    _append(engine, 1)
    assert audit.verify(engine, heads=_heads(witness)) == 2


def test_a_deleted_tail_is_caught_and_named(
    engine: Engine, witness: audit_head.HeadWitness
) -> None:
    _append(engine, 5)
    heads = _heads(witness)
    with engine.begin() as connection:
        connection.execute(delete(audit_log).where(audit_log.c.seq >= 4))
    assert audit.verify(engine) == 3  # the chain alone cannot tell
    with pytest.raises(AuditChainBroken) as caught:
        audit.verify(engine, heads=heads)
    assert caught.value.seq == 4
    assert "row 4: missing (and every row to 5): the log ends at row 3" in str(caught.value)
    assert "line 5 of the head file" in str(caught.value)


def test_one_deleted_newest_row_is_caught(engine: Engine, witness: audit_head.HeadWitness) -> None:
    _append(engine, 2)
    with engine.begin() as connection:
        connection.execute(delete(audit_log).where(audit_log.c.seq == 2))
    with pytest.raises(AuditChainBroken, match=r"row 2: missing: the log ends at row 1"):
        audit.verify(engine, heads=_heads(witness))


def test_a_rewritten_and_rehashed_chain_is_caught(
    engine: Engine, witness: audit_head.HeadWitness
) -> None:
    _append(engine, 3)
    heads = _heads(witness)
    # The operator rewrites row 2 and recomputes every hash from there: the chain verifies.
    with engine.begin() as connection:
        rows = connection.execute(audit_log.select().order_by(audit_log.c.seq)).all()
        prev = rows[0].row_hash
        for row in rows[1:]:
            details = '{"n":7}' if row.seq == 2 else row.details
            forged = audit._row_hash(
                row.seq, row.occurred_at, row.actor, row.action, row.subject, details, prev
            )
            connection.execute(
                update(audit_log)
                .where(audit_log.c.seq == row.seq)
                .values(details=details, prev_hash=prev, row_hash=forged)
            )
            prev = forged
    assert audit.verify(engine) == 3
    with pytest.raises(
        AuditChainBroken, match=r"row 2: its hash differs from the head signed on line 2"
    ):
        audit.verify(engine, heads=heads)


def test_a_forged_or_altered_head_line_is_refused(
    engine: Engine, witness: audit_head.HeadWitness, tmp_path: Path
) -> None:
    _append(engine, 2)
    lines = witness.file.path.read_text().splitlines()
    altered = json.loads(lines[1]) | {"seq": 9}
    witness.file.path.write_text(lines[0] + "\n" + json.dumps(altered) + "\n")
    with pytest.raises(AuditHeadInvalid, match=r"line 2: the signature over row 9 does not verify"):
        _heads(witness)
    # Signed with another key: the published key does not vouch for it.
    other = audit_head.HeadSigner(audit_head.new_key()).sign(audit_head.Head(9, "a" * 64))
    witness.file.path.write_text(lines[0] + "\n" + other.line() + "\n")
    with pytest.raises(AuditHeadInvalid, match=r"line 2: the signature over row 9"):
        _heads(witness)
    witness.file.path.write_text(lines[0] + "\n{not json\n")
    with pytest.raises(AuditHeadInvalid, match=r"line 2: not a signed head"):
        _heads(witness)
    # And the newest head skips what the key did not sign.
    newest = audit_head.newest(witness.file.path, witness.file.public_key)
    assert newest is not None and newest.seq == 1


def test_an_unwritable_head_file_never_fails_the_transaction(
    engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    witness = audit_head.HeadWitness(
        blocked / "heads.log", audit_head.HeadSigner(audit_head.new_key())
    )
    audit_head.attach(engine, witness)
    _append(engine, 1)
    assert audit.verify(engine) == 1
    assert "audit head 1 not written" in caplog.text


def test_a_line_cut_short_by_a_full_volume_leaves_no_torn_line(
    engine: Engine, witness: audit_head.HeadWitness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write a full volume cut short left `{"seq":41,` in the file and the next head
    appended to it: `audit verify --head` then called the file forged from that line on."""
    _append(engine, 1)
    real_write = audit_head.os.write

    def short(descriptor: int, data: bytes) -> int:
        return real_write(descriptor, data[:10])

    monkeypatch.setattr(audit_head.os, "write", short)
    _append(engine, 1)  # its head is not written (logged), the transaction stands
    monkeypatch.setattr(audit_head.os, "write", real_write)
    _append(engine, 1)
    heads = _heads(witness)
    assert [h.head.seq for h in heads] == [1, 3]
    assert audit.verify(engine, heads=heads) == 3
    # A line a crash cut short (no newline at its end) does not swallow the next head.
    with witness.file.path.open("ab") as handle:
        handle.write(b'{"seq":9')
    _append(engine, 1)
    assert _heads_after_torn(witness)[-1].head.seq == 4


def _heads_after_torn(witness: audit_head.HeadWitness) -> list[audit_head.HeadLine]:
    lines = witness.file.path.read_bytes().split(b"\n")
    assert b'{"seq":9' in lines  # on a line of its own, the next head on the next
    kept = b"\n".join(line for line in lines if line != b'{"seq":9')
    witness.file.path.write_bytes(kept)
    return _heads(witness)


def test_a_head_is_in_the_file_when_the_commit_returns_and_never_written_backwards(
    tmp_path: Path,
) -> None:
    witness = audit_head.HeadWitness(
        tmp_path / "heads.log", audit_head.HeadSigner(audit_head.new_key())
    )
    witness.committed(audit_head.Head(3, "3" * 64))
    assert len(witness.file.path.read_text().splitlines()) == 1
    # A head behind one already written (its transaction committed first, checked in last).
    witness.committed(audit_head.Head(2, "2" * 64))
    witness.committed(audit_head.Head(4, "4" * 64))
    written = list(audit_head.read_heads(witness.file.path, witness.file.public_key))
    assert [line.head.seq for line in written] == [3, 4]


def test_concurrent_writers_leave_a_head_for_the_last_commit(
    engine: Engine, witness: audit_head.HeadWitness
) -> None:
    def work(worker: int) -> None:
        for n in range(4):
            audit.audited_transaction(
                engine,
                lambda connection, n=n: audit.append(
                    connection, "tester", "thing.done", subject=f"W{worker}-{n}", now=T0
                ),
                attempts=50,
            )

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    heads = _heads(witness)
    seqs = [line.head.seq for line in heads]
    assert seqs == sorted(set(seqs)) and seqs[-1] == 24 and len(seqs) <= 24
    assert audit.verify(engine, heads=heads) == 24
