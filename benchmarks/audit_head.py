"""What the signed audit head costs an audited transaction (run by hand).

    .venv/bin/python benchmarks/audit_head.py --transactions 400 \
        --postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres

On SQLite (a file store in a temporary folder) and on PostgreSQL when `--postgres` names a
server (a fresh database is made and dropped), each case runs `--transactions` audited
transactions (`audit.audited_transaction` with one `audit.append`, as a service does) in one
thread and then spread over 8 threads, on a fresh store without a head witness and on one with
(Ed25519 signature and O_APPEND write of each head after its commit, the fsync on the
process's syncing thread). Reported: transactions per second, the ratio with the witness to
without, and how many head lines were written (fewer than transactions when a head arrived
behind one already written).
Results go to benchmarks/results/audit_head.json and .md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

from kaimen.store import audit, audit_head
from kaimen.store.database import open_store

RESULTS = Path(__file__).parent / "results"


@contextmanager
def _store(kind: str, folder: Path, postgres: str | None) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{folder / f'{uuid.uuid4().hex}.sqlite'}"
        return
    assert postgres is not None
    name = f"bench_audit_head_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield postgres.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
        admin.dispose()


def _run(url: str, heads: Path | None, transactions: int, threads: int) -> tuple[float, int]:
    engine = open_store(url)
    if heads is not None:
        signer = audit_head.HeadSigner(audit_head.new_key())
        audit_head.attach(engine, audit_head.HeadWitness(heads, signer))

    def work(count: int, worker: int) -> None:
        for n in range(count):
            audit.audited_transaction(
                engine,
                lambda connection, n=n: audit.append(
                    connection, "bench", "thing.done", subject=f"W{worker}-{n}"
                ),
                attempts=200,
            )

    share = transactions // threads
    runners = [threading.Thread(target=work, args=(share, w)) for w in range(threads)]
    started = time.perf_counter()
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join()
    seconds = time.perf_counter() - started
    assert audit.verify(engine) == share * threads
    engine.dispose()
    lines = len(heads.read_text().splitlines()) if heads is not None and heads.exists() else 0
    return share * threads / seconds, lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=400)
    parser.add_argument("--postgres", help="an admin URL of a PostgreSQL server")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        for kind in ("sqlite", "postgres") if args.postgres else ("sqlite",):
            for threads in (1, 8):
                measured = {}
                for witnessed in (False, True):
                    heads = folder / f"{uuid.uuid4().hex}.log" if witnessed else None
                    with _store(kind, folder, args.postgres) as url:
                        measured[witnessed] = _run(url, heads, args.transactions, threads)
                rows.append(
                    {
                        "store": kind,
                        "threads": threads,
                        "transactions": args.transactions,
                        "per_second_without": round(measured[False][0], 1),
                        "per_second_with": round(measured[True][0], 1),
                        "ratio": round(measured[True][0] / measured[False][0], 2),
                        "head_lines": measured[True][1],
                    }
                )
                print(rows[-1], flush=True)
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}"
    load = f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "audit_head.json").write_text(
        json.dumps({"when": when, "machine": machine, "rows": rows}, indent=2) + "\n"
    )
    table = [
        "| store | threads | transactions | audited tx/s without | with the signed head | ratio "
        "| head lines written |",
        "|---|---|---|---|---|---|---|",
        *(
            f"| {r['store']} | {r['threads']} | {r['transactions']:,} | {r['per_second_without']:,}"
            f" | {r['per_second_with']:,} | **{r['ratio']}x** | {r['head_lines']:,} |"
            for r in rows
        ),
    ]
    (RESULTS / "audit_head.md").write_text(
        "# The signed audit head's cost\n\n"
        f"`.venv/bin/python benchmarks/audit_head.py --transactions {args.transactions}"
        f"{' --postgres URL' if args.postgres else ''}`; {machine}; {when}; {load}.\n\n"
        "Each transaction appends one audit row and commits; with the witness, each commit that "
        "moved the chain signs its head (Ed25519) and appends it to the head file before it "
        "returns (a head behind one already written is skipped), and the process's syncing "
        "thread fsyncs the file once for every line written meanwhile.\n\n"
        + "\n".join(table)
        + "\n"
    )


if __name__ == "__main__":
    main()
