"""Bulk enrolment (run by hand): `kaimen enrol --file` against a bare bulk insert of the same rows.

    .venv/bin/python benchmarks/enrol_speed.py --people 30000 300000

For each size a seeded population is written as a CSV (person_id, phone, national_id, as
`kaimen simulate` writes it). Then, on SQLite and on PostgreSQL, in the same run:

- kaimen: `python -m kaimen enrol --file people.csv`, the real command in a fresh process,
  into a fresh store already at the newest migration (creating the schema is not counted).
  Its wall time includes everything a user waits for: interpreter start and imports, reading
  and checking the CSV, the keyed hashes and AES-GCM encryption of both identities, the
  lookups against the store, the write, the audit row and the commit. Python's bytecode cache
  is on (in a folder under the work folder), as in any installed package: the first,
  untimed enrolment of a small file warms it.
- in-process: `enrol_file` called in this process on another fresh store, and its parts
  timed alone: reading the CSV (`read_input`) and the vault work (HMAC-SHA256 of both values
  and AES-256-GCM of both and of the fairness traits, `lookup_hashes` + `encrypt_many`).
- ceiling: the same rows, already prepared (hashed, encrypted, birth dates), written into the
  same three tables of a third fresh store by the bare driver: `executemany` on the sqlite3
  connection (same pragmas as kaimen's), `COPY ... FROM STDIN` through psycopg 3 on
  PostgreSQL; timed from the first row to the commit. The same rows are every row kaimen
  writes for a person: one in `people`, two in `identities` (ID number and phone) and one in
  `fairness_traits` (sex and province, sealed for the fairness audit). The bare insert of
  people and identities alone (the ceiling before enrolment sealed the traits) is also
  written, into a fourth store, so results stay comparable with earlier runs.

The ratio is kaimen's people/s over the ceiling's (target 0.3x). Results go to
benchmarks/results/enrol_speed.json and .md, with the machine's load average.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pyarrow.csv as pacsv
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from kaimen.domain import national_id
from kaimen.domain.audit_groups import TRAITS_KIND, traits_of
from kaimen.domain.phone import normalise_phone
from kaimen.enrolment import ENROL_COLUMNS, enrol_file
from kaimen.input_files import read_input
from kaimen.simulate.population import make_population
from kaimen.store.database import open_store
from kaimen.store.identity_vault import IdentityVault
from kaimen.store.tables import people

ROOT = Path(__file__).resolve().parent
TARGET = 0.3
SECRET = bytes(range(32))
NOW = dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Run:
    backend: str
    people: int
    kaimen_s: float
    kaimen_cpu_s: float
    in_process_s: float
    read_csv_s: float
    vault_s: float
    ceiling_s: float
    ceiling_without_traits_s: float

    @property
    def ratio(self) -> float:
        return self.ceiling_s / self.kaimen_s


def write_people(n: int, path: Path) -> None:
    population = make_population(np.random.default_rng(n), n, 7, NOW.date())
    pacsv.write_csv(population.enrolment_table(), path)


@dataclass(frozen=True)
class Prepared:
    """The rows as kaimen stores them, computed outside any timing."""

    person_id: list[str]
    birth_date: list[str]
    id_hash: list[str]
    id_encrypted: list[str]
    phone_hash: list[str]
    phone_encrypted: list[str]
    traits_encrypted: list[str]


def prepare(path: Path, vault: IdentityVault) -> tuple[Prepared, float]:
    """The prepared rows, and the seconds the vault work on them took alone."""
    table = read_input(path, ENROL_COLUMNS).table
    ids = table.column("national_id").to_pylist()
    check = national_id.check_many(ids, NOW.date())
    phones = [normalise_phone(p) for p in table.column("phone").to_pylist()]
    started = time.perf_counter()
    prepared = Prepared(
        person_id=table.column("person_id").to_pylist(),
        birth_date=np.datetime_as_string(check.birth_dates, unit="D").tolist(),
        id_hash=vault.lookup_hashes("cn_resident_id", check.normalised),
        id_encrypted=vault.encrypt_many("cn_resident_id", check.normalised),
        phone_hash=vault.lookup_hashes("phone", phones),
        phone_encrypted=vault.encrypt_many("phone", phones),
        traits_encrypted=vault.encrypt_many(TRAITS_KIND, [traits_of(v) for v in check.normalised]),
    )
    return prepared, time.perf_counter() - started


class Stores:
    """Fresh stores at the newest migration: SQLite files, or PostgreSQL databases."""

    def __init__(self, backend: str, work: Path, admin_url: str, prefix: str) -> None:
        self.backend, self.work, self.admin_url, self.prefix = backend, work, admin_url, prefix
        self.made: list[str] = []

    def _admin(self, statement: str) -> None:
        admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(statement))
        admin.dispose()

    def fresh(self, name: str) -> str:
        if self.backend == "sqlite":
            home = self.work / name
            home.mkdir(parents=True)
            url = f"sqlite:///{home / 'kaimen.sqlite'}"
        else:
            database = self.prefix + name
            self._admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            self._admin(f'CREATE DATABASE "{database}"')
            self.made.append(database)
            url = make_url(self.admin_url).set(database=database).render_as_string(False)
        open_store(url).dispose()
        return url

    def drop_all(self) -> None:
        for database in self.made:
            self._admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def count_people(url: str) -> int:
    engine = open_store(url)
    with engine.connect() as connection:
        count = int(connection.execute(select(func.count()).select_from(people)).scalar_one())
    engine.dispose()
    return count


def child_env(url: str, cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(cache)
    env["KAIMEN_SECRET_KEY"] = base64.b64encode(SECRET).decode()
    if url.startswith("sqlite"):
        env["KAIMEN_HOME"] = str(Path(url.split("///", 1)[1]).parent)
        env.pop("KAIMEN_DATABASE_URL", None)
    else:
        env["KAIMEN_HOME"] = str(cache.parent / "pg-home")
        env["KAIMEN_DATABASE_URL"] = url
    return env


def run_command(path: Path, url: str, cache: Path) -> tuple[float, float]:
    """Wall and CPU seconds of `kaimen enrol --file` in its own process."""
    command = [sys.executable, "-m", "kaimen", "enrol", "--file", str(path)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, env=child_env(url, cache), check=True, capture_output=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _copy(cursor: Any, statement: str, rows: Iterable[tuple[str, ...]]) -> None:
    with cursor.copy(statement) as copy:
        copy.write("".join(f"{line}\n" for line in map("\t".join, rows)))


def bare_insert(url: str, rows: Prepared, traits: bool = True) -> float:
    """Seconds to write `rows` into people, identities and (with `traits`) fairness_traits by
    the bare driver, with commit."""
    n = len(rows.person_id)
    stamp_pg = NOW.isoformat()
    stamp_sqlite = NOW.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    kinds = (
        ("cn_resident_id", rows.id_hash, rows.id_encrypted),
        ("phone", rows.phone_hash, rows.phone_encrypted),
    )
    people_sql = "people (person_id, birth_date, enrolled_at)"
    identity_sql = "identities (person_id, kind, lookup_hash, encrypted_value, created_at)"
    traits_sql = "fairness_traits (person_id, traits_encrypted, recorded_at)"
    if url.startswith("sqlite"):
        engine = open_store(url)  # the same pragmas as kaimen's connections
        raw = engine.raw_connection().driver_connection
        assert raw is not None
        started = time.perf_counter()
        cursor = raw.cursor()
        cursor.executemany(
            f"INSERT INTO {people_sql} VALUES (?, ?, ?)",
            zip(rows.person_id, rows.birth_date, repeat(stamp_sqlite, n), strict=True),
        )
        for kind, digests, ciphers in kinds:
            cursor.executemany(
                f"INSERT INTO {identity_sql} VALUES (?, ?, ?, ?, ?)",
                zip(
                    rows.person_id,
                    repeat(kind, n),
                    digests,
                    ciphers,
                    repeat(stamp_sqlite, n),
                    strict=True,
                ),
            )
        if traits:
            cursor.executemany(
                f"INSERT INTO {traits_sql} VALUES (?, ?, ?)",
                zip(rows.person_id, rows.traits_encrypted, repeat(stamp_sqlite, n), strict=True),
            )
        raw.commit()
        elapsed = time.perf_counter() - started
        engine.dispose()
        return elapsed
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(conninfo) as connection:
        started = time.perf_counter()
        with connection.cursor() as cursor:
            _copy(
                cursor,
                f"COPY {people_sql} FROM STDIN",
                zip(rows.person_id, rows.birth_date, repeat(stamp_pg, n), strict=True),
            )
            for kind, digests, ciphers in kinds:
                _copy(
                    cursor,
                    f"COPY {identity_sql} FROM STDIN",
                    zip(
                        rows.person_id,
                        repeat(kind, n),
                        digests,
                        ciphers,
                        repeat(stamp_pg, n),
                        strict=True,
                    ),
                )
            if traits:
                _copy(
                    cursor,
                    f"COPY {traits_sql} FROM STDIN",
                    zip(rows.person_id, rows.traits_encrypted, repeat(stamp_pg, n), strict=True),
                )
        connection.commit()
        return time.perf_counter() - started


def measure(backend: str, n: int, csv: Path, stores: Stores, cache: Path) -> Run:
    vault = IdentityVault(SECRET)
    tag = f"{backend}_{n}"
    kaimen_url = stores.fresh(f"{tag}_cli")
    kaimen_s, kaimen_cpu = run_command(csv, kaimen_url, cache)
    assert count_people(kaimen_url) == n, "the command did not enrol everyone"

    started = time.perf_counter()
    read_input(csv, ENROL_COLUMNS)
    read_csv_s = time.perf_counter() - started
    rows, vault_s = prepare(csv, vault)

    in_process_url = stores.fresh(f"{tag}_inproc")
    engine = open_store(in_process_url)
    started = time.perf_counter()
    report = enrol_file(engine, vault, csv, "bench", now=NOW)
    in_process_s = time.perf_counter() - started
    engine.dispose()
    assert report.enrolled == n

    ceiling_url = stores.fresh(f"{tag}_bare")
    ceiling_s = bare_insert(ceiling_url, rows)
    assert count_people(ceiling_url) == n
    without_url = stores.fresh(f"{tag}_bare_without_traits")
    without_s = bare_insert(without_url, rows, traits=False)
    return Run(
        backend, n, kaimen_s, kaimen_cpu, in_process_s, read_csv_s, vault_s, ceiling_s, without_s
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, nargs="+", default=[30_000, 300_000])
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument(
        "--postgres",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
        help="a server URL whose user may create databases",
    )
    parser.add_argument("--database-prefix", default="kaimen_bench_enrol_")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: temp)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="enrol_speed_"))
    work.mkdir(parents=True, exist_ok=True)
    cache = work / "pycache"
    load_before = os.getloadavg()
    warm = work / "warm.csv"
    write_people(200, warm)
    runs: list[Run] = []
    for backend in args.backends:
        stores = Stores(backend, work / backend, args.postgres, args.database_prefix)
        try:
            run_command(warm, stores.fresh("warm"), cache)  # fills the bytecode cache
            for n in args.people:
                csv = work / f"people_{n}.csv"
                if not csv.exists():
                    write_people(n, csv)
                run = measure(backend, n, csv, stores, cache)
                runs.append(run)
                print(
                    f"{backend:8} {n:>9,} people: kaimen {n / run.kaimen_s:>9,.0f}/s "
                    f"({run.kaimen_s:.2f} s), bare {n / run.ceiling_s:>9,.0f}/s "
                    f"({run.ceiling_s:.2f} s): {run.ratio:.3f}x (target {TARGET}x); "
                    f"in-process {run.in_process_s:.2f} s, CSV {run.read_csv_s:.2f} s, "
                    f"vault {run.vault_s:.2f} s; without traits rows the bare insert takes "
                    f"{run.ceiling_without_traits_s:.2f} s: "
                    f"{run.ceiling_without_traits_s / run.kaimen_s:.3f}x",
                    flush=True,
                )
        finally:
            stores.drop_all()
    load_after = os.getloadavg()
    write_results(runs, load_before, load_after)


def write_results(
    runs: list[Run], load_before: tuple[float, ...], load_after: tuple[float, ...]
) -> None:
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}"
    load = f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after"
    out = ROOT / "results"
    out.mkdir(exist_ok=True)
    record = {
        "when": when,
        "machine": machine,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "target_ratio": TARGET,
        "runs": [
            {**asdict(r), "ratio": r.ratio, "people_per_s": r.people / r.kaimen_s} for r in runs
        ],
    }
    (out / "enrol_speed.json").write_text(json.dumps(record, indent=2) + "\n")
    lines = [
        "# Bulk enrolment",
        "",
        f"`.venv/bin/python benchmarks/enrol_speed.py --people "
        f"{' '.join(str(n) for n in sorted({r.people for r in runs}))}`; {machine}; {when}; "
        f"{load}.",
        "",
        "kaimen = `python -m kaimen enrol --file` in a fresh process (start-up, imports, CSV, "
        "checks, HMAC + AES-GCM of ID, phone and fairness traits, write (rows are looked up "
        "only when the store refuses it), audit, "
        "commit). Ceiling = the same prepared rows (one `people`, two `identities` and one "
        "`fairness_traits` row a person) written by the bare driver (`executemany` on SQLite, "
        "`COPY` on PostgreSQL) and committed. The last column is the bare insert without the "
        "`fairness_traits` rows (the ceiling of runs before enrolment sealed the traits) and "
        "kaimen's ratio against it.",
        "",
        "| store | people | kaimen | people/s | bare insert | people/s | ratio (target 0.3x) "
        "| in-process `enrol_file` | CSV read alone | vault work alone "
        "| bare insert without traits |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        lines.append(
            f"| {r.backend} | {r.people:,} | {r.kaimen_s:.2f} s | {r.people / r.kaimen_s:,.0f} "
            f"| {r.ceiling_s:.2f} s | {r.people / r.ceiling_s:,.0f} | **{r.ratio:.2f}x** "
            f"| {r.in_process_s:.2f} s ({r.ceiling_s / r.in_process_s:.2f}x) "
            f"| {r.read_csv_s:.2f} s | {r.vault_s:.2f} s "
            f"| {r.ceiling_without_traits_s:.2f} s "
            f"({r.ceiling_without_traits_s / r.kaimen_s:.2f}x) |"
        )
    (out / "enrol_speed.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
