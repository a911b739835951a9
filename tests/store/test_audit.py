import datetime as dt
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Connection, Engine, delete, func, select, update

from kaimen.domain.errors import AuditChainBroken
from kaimen.store import audit
from kaimen.store.tables import audit_log

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _append(engine: Engine, count: int) -> None:
    for i in range(count):
        with engine.begin() as connection:
            audit.append(
                connection,
                "tester",
                "thing.done",
                subject=f"P{i}",
                details={"n": i, "text": "é ✓"},
                now=T0 + dt.timedelta(minutes=i),
            )


def test_an_untouched_log_verifies(engine: Engine) -> None:
    _append(engine, 5)
    assert audit.verify(engine) == 5
    assert audit.verify(engine, chunk=2) == 5


def test_an_empty_log_verifies(engine: Engine) -> None:
    assert audit.verify(engine) == 0


@pytest.mark.parametrize(
    "change",
    [
        {"details": '{"n":99,"text":"é ✓"}'},
        {"actor": "someone else"},
        {"subject": None},
        {"occurred_at": T0 + dt.timedelta(days=3)},
    ],
)
def test_an_edited_row_is_named(engine: Engine, change: dict[str, object]) -> None:
    _append(engine, 5)
    with engine.begin() as connection:
        connection.execute(update(audit_log).where(audit_log.c.seq == 3).values(**change))
    with pytest.raises(AuditChainBroken) as caught:
        audit.verify(engine)
    assert caught.value.seq == 3


def test_a_deleted_row_is_named(engine: Engine) -> None:
    _append(engine, 5)
    with engine.begin() as connection:
        connection.execute(delete(audit_log).where(audit_log.c.seq == 2))
    with pytest.raises(AuditChainBroken) as caught:
        audit.verify(engine)
    assert caught.value.seq == 2


def test_a_rehashed_row_still_breaks_the_link_to_the_next(engine: Engine) -> None:
    _append(engine, 4)
    with engine.begin() as connection:
        row = connection.execute(audit_log.select().where(audit_log.c.seq == 2)).one()
        forged = audit._row_hash(
            row.seq, row.occurred_at, row.actor, row.action, row.subject, '{"n":7}', row.prev_hash
        )
        connection.execute(
            update(audit_log).where(audit_log.c.seq == 2).values(details='{"n":7}', row_hash=forged)
        )
    with pytest.raises(AuditChainBroken) as caught:
        audit.verify(engine)
    assert caught.value.seq == 3


def test_the_chain_cannot_fork(engine: Engine) -> None:
    _append(engine, 2)
    with engine.begin() as connection:
        last = connection.execute(audit_log.select().where(audit_log.c.seq == 2)).one()
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"), engine.begin() as connection:
        connection.execute(
            audit_log.insert().values(
                seq=3,
                occurred_at=T0,
                actor="x",
                action="y",
                subject=None,
                details="{}",
                prev_hash=last.prev_hash,
                row_hash="f" * 64,
            )
        )


def _writers_at_once(engine: Engine, writers: int, attempts: int) -> list[int]:
    """`writers` audited transactions started together, each pausing between its append and
    its commit (where a second writer would pick the same predecessor); their sequences."""
    start = threading.Barrier(writers)

    def one(writer: int) -> int:
        def work(connection: Connection) -> int:
            seq = audit.append(connection, "tester", "thing.done", subject=f"P{writer}")
            time.sleep(0.02)
            return seq

        start.wait()
        return audit.audited_transaction(engine, work, attempts=attempts)

    with ThreadPoolExecutor(max_workers=writers) as pool:
        return sorted(pool.map(one, range(writers)))


def test_concurrent_audited_transactions_all_land_in_one_chain(engine: Engine) -> None:
    assert _writers_at_once(engine, 8, attempts=8) == list(range(1, 9))
    assert audit.verify(engine) == 8


def test_appends_queue_instead_of_failing_them(engine: Engine) -> None:
    """The append lock makes retries unnecessary on either store: one try each is enough."""
    assert _writers_at_once(engine, 6, attempts=1) == list(range(1, 7))


def test_plain_transactions_that_read_first_then_append_all_land(engine: Engine) -> None:
    """Writers that read first and append with no retry (a resend's inbox check, an export,
    a fairness report): on SQLite they used to read the chain's head outside any transaction,
    pick the same predecessor, and fail on the unique sequence."""
    writers = 8
    start = threading.Barrier(writers)

    def one(writer: int) -> int:
        start.wait()
        with engine.begin() as connection:
            connection.execute(select(func.count()).select_from(audit_log)).scalar_one()
            seq = audit.append(connection, "tester", "thing.read", subject=f"P{writer}")
            time.sleep(0.01)
            return seq

    with ThreadPoolExecutor(max_workers=writers) as pool:
        assert sorted(pool.map(one, range(writers))) == list(range(1, writers + 1))
    assert audit.verify(engine) == writers
