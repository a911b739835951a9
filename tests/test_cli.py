"""The `kaimen` command, end to end through Typer's test runner on real stores."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import json
import os
import re
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from kaimen.cli import app
from kaimen.simulate.run import last_full_month, simulate
from tests.conftest import make_national_id

SECRET = base64.b64encode(bytes(range(32))).decode("ascii")
runner = CliRunner()


def kaimen(env: dict[str, str | None], *args: str) -> Result:
    return runner.invoke(app, list(args), env=env)


def _env(home: Path, database_url: str | None = None) -> dict[str, str | None]:
    return {
        "KAIMEN_HOME": str(home),
        "KAIMEN_SECRET_KEY": SECRET,
        "KAIMEN_DATABASE_URL": database_url,  # None unsets it: SQLite in KAIMEN_HOME
        "KAIMEN_ADMIN_TOKEN": None,
        "COLUMNS": "200",  # Rich wraps at the terminal width; keep every message on one line
        "NO_COLOR": "1",
        "TERM": "dumb",
    }


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str | None]:
    return _env(tmp_path / "home")


def _sqlite_url(env: dict[str, str | None]) -> str:
    return f"sqlite:///{Path(str(env['KAIMEN_HOME'])) / 'kaimen.sqlite'}"


def _number(pattern: str, output: str) -> int:
    match = re.search(pattern, output)
    assert match, f"{pattern!r} not in {output!r}"
    return int(match.group(1).replace(",", ""))


# -- help ------------------------------------------------------------------------------------


def test_app_help_lists_every_command(env: dict[str, str | None]) -> None:
    result = kaimen(env, "--help")
    assert result.exit_code == 0, result.output
    assert "credit and trust scoring" in result.stdout
    for command in ("simulate", "enrol", "ingest", "status", "serve", "demo", "audit", "lake"):
        assert re.search(rf"\b{command}\b", result.stdout), command


def test_no_arguments_shows_help(env: dict[str, str | None]) -> None:
    result = kaimen(env)
    assert "Usage" in result.output
    assert "simulate" in result.output


@pytest.mark.parametrize(
    ("command", "says"),
    [
        (["simulate"], "synthetic population"),
        (["enrol"], "Enrol one person"),
        (["ingest"], "Validate and store a file of events"),
        (["lake"], "Manage the event lake"),
        (["lake", "seal"], "inbox into the lake"),
        (["status"], "What the store and the lake hold"),
        (["audit"], "tamper-evident audit log"),
        (["audit", "verify"], "hash chain"),
        (["serve"], "Serve the HTTP API"),
        (["demo"], "Simulate, enrol, ingest, train, score"),
    ],
)
def test_every_command_has_help(env: dict[str, str | None], command: list[str], says: str) -> None:
    result = kaimen(env, *command, "--help")
    assert result.exit_code == 0, result.output
    assert says in result.stdout
    assert "Usage" in result.stdout


def test_simulate_help_names_its_options(env: dict[str, str | None]) -> None:
    result = kaimen(env, "simulate", "--help")
    for option in ("--people", "--months", "--seed", "--out", "--last-month", "--format"):
        assert option in result.stdout


# -- simulate, enrol, ingest, status, audit --------------------------------------------------


def _simulate(env: dict[str, str | None], out: Path, *extra: str) -> int:
    result = kaimen(
        env,
        "simulate",
        "--people",
        "120",
        "--months",
        "3",
        "--seed",
        "5",
        "--last-month",
        "2026-06",
        "--out",
        str(out),
        *extra,
    )
    assert result.exit_code == 0, result.output
    assert "simulated 120 people over 3 months (2026-04 to 2026-06)" in result.stdout
    return _number(r": ([\d,]+) events", result.stdout)


def _flow(env: dict[str, str | None], tmp_path: Path) -> tuple[Path, int]:
    """Simulate, enrol and ingest; returns the simulation folder and its event count."""
    out = tmp_path / "sim"
    events = _simulate(env, out)
    summary = json.loads((out / "simulation.json").read_text())
    assert summary["events"] == events

    enrolled = kaimen(env, "enrol", "--file", str(out / "people.csv"))
    assert enrolled.exit_code == 0, enrolled.output
    assert "enrolled 120 new, 0 already enrolled" in enrolled.stdout

    ingested = kaimen(env, "ingest", str(out / "events.parquet"))
    assert ingested.exit_code == 0, ingested.output
    assert f"new {events:,}, duplicate 0, rejected 0" in ingested.stdout
    return out, events


def test_simulate_enrol_ingest_and_replay(env: dict[str, str | None], tmp_path: Path) -> None:
    out, events = _flow(env, tmp_path)

    again = kaimen(env, "ingest", str(out / "events.parquet"))
    assert again.exit_code == 0, again.output
    assert f"new 0, duplicate {events:,}, rejected 0" in again.stdout
    assert "ingested before" in again.stdout

    # The same events in another file (and format) are duplicates event by event.
    jsonl_out = tmp_path / "sim-jsonl"
    assert _simulate(env, jsonl_out, "--format", "jsonl") == events
    copy = kaimen(env, "ingest", str(jsonl_out / "events.jsonl"))
    assert copy.exit_code == 0, copy.output
    assert f"new 0, duplicate {events:,}, rejected 0" in copy.stdout
    assert "ingested before" not in copy.stdout

    # Enrolling the same file again changes nothing.
    reenrol = kaimen(env, "enrol", "--file", str(out / "people.csv"))
    assert reenrol.exit_code == 0, reenrol.output
    assert "enrolled 0 new, 120 already enrolled" in reenrol.stdout

    verified = kaimen(env, "audit", "verify")
    assert verified.exit_code == 0, verified.output
    # enrolled, ingested, ingested (all duplicates), enrolled (none new)
    assert "audit log verified: 4 rows, chain intact" in verified.stdout


def test_status_lists_event_kinds(env: dict[str, str | None], tmp_path: Path) -> None:
    empty = kaimen(env, "status")
    assert empty.exit_code == 0, empty.output
    assert "people enrolled: 0; lake files: 0; audit log rows: 0" in empty.stdout

    out, events = _flow(env, tmp_path)
    result = kaimen(env, "status")
    assert result.exit_code == 0, result.output
    by_kind = json.loads((out / "simulation.json").read_text())["events_by_kind"]
    assert len(by_kind) >= 9
    for kind, count in by_kind.items():
        assert re.search(rf"│ {kind} +│ +{count:,} │", result.stdout), (kind, result.stdout)
    assert re.search(rf"│ total +│ +{events:,} │", result.stdout)
    assert "people enrolled: 120;" in result.stdout
    assert "audit log rows: 2" in result.stdout


def test_lake_seal_with_an_empty_inbox(env: dict[str, str | None]) -> None:
    result = kaimen(env, "lake", "seal")
    assert result.exit_code == 0, result.output
    assert "sealed 0 events: new 0, duplicate 0" in result.stdout


def test_lake_index_keys_finds_an_ingested_lake_already_indexed(
    env: dict[str, str | None], tmp_path: Path
) -> None:
    _flow(env, tmp_path)
    result = kaimen(env, "lake", "index-keys")
    assert result.exit_code == 0, result.output
    # Ingestion indexes its keys as it writes: nothing is left to catch up, and no audit row.
    assert "indexed 0 event keys the index did not hold" in result.stdout
    verified = kaimen(env, "audit", "verify")
    assert "audit log verified: 2 rows" in verified.stdout, verified.output


def test_a_population_too_small_to_judge_a_model_is_refused_plainly(
    env: dict[str, str | None],
) -> None:
    # Seed 2026's 200 people leave a couple of dozen held-out people, none of them bad, at the out-of-time
    # month: no AUC, no choice between the models. Before, a ValueError traceback.
    result = kaimen(env, "demo", "--people", "200", "--months", "18", "--no-serve")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert re.search(
        r"the held-out people at \d{4}-\d{2} holds \d+ people with 0 bad outcomes: judging a "
        r"model needs both good and bad outcomes",
        " ".join(result.output.split()),
    )


def test_demo_runs_end_to_end(env: dict[str, str | None], tmp_path: Path) -> None:
    result = kaimen(env, "demo", "--people", "300", "--months", "18", "--seed", "3", "--no-serve")
    assert result.exit_code == 0, result.output
    assert "simulated 300 people over 18 months" in result.stdout
    assert "enrolled 300 new, 0 already enrolled" in result.stdout
    assert "duplicate 0, rejected 0" in result.stdout
    assert "out-of-time AUC" in result.stdout
    assert "scored" in result.stdout
    # enrol, ingest, train (scorecard and challenger), two months, the month monitored
    assert "audit log verified: 7 rows" in result.stdout
    assert "model card:" in result.stdout
    assert re.search(r"http://127\.0\.0\.1:8000/sign-in\?code=[A-Z2-9]{10}", result.stdout)
    # The partner signs in with a live key of its own; the admin with the admin token.
    key = re.search(
        r"a partner \(demo-shop, one offer\): .* paste the API key (\S+)", result.stdout
    )
    assert key is not None
    assert "the admin (model card" in result.stdout and "admin.token" in result.stdout
    home = Path(str(env["KAIMEN_HOME"]))
    demo = next(home.glob("demo-3-300-18-*"))
    assert (demo / "events.parquet").is_file()
    # The simulated people (every phone and ID number) are enrolled, encrypted, and the
    # file they came in is gone, with the court list and payments naming them.
    for name in ("people.csv", "court-list.csv", "payments.csv"):
        assert not (demo / name).exists(), name
    again = simulate(300, 18, 3, tmp_path / "again", last_full_month(dt.date.today()))
    with Path(again.people_file).open(encoding="utf-8", newline="") as handle:
        people = list(csv.DictReader(handle))
    assert _held_in_clear(home, people) == []
    opted = kaimen(env, "person", "opt-out", people[2]["person_id"], "--yes")
    assert opted.exit_code == 0, opted.output
    assert _held_in_clear(home, people) == []


def _held_in_clear(home: Path, people: list[dict[str, str]]) -> list[str]:
    """Files under `home` holding any of `people`'s phone or ID numbers as plain text."""
    numbers = [p["phone"].encode() for p in people] + [p["national_id"].encode() for p in people]
    numbers += [p["phone"].removeprefix("+86").encode() for p in people]
    found = []
    for path in sorted(home.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path.relative_to(home)}" for n in numbers if n in data][:1]
    return found


# -- enrolling one person ----------------------------------------------------------------------

GOOD_ID = make_national_id("110101", "19900307", "123")


def _wrong_check(national_id: str) -> str:
    right = national_id[-1]
    return national_id[:-1] + ("1" if right != "1" else "2")


@pytest.mark.parametrize(
    ("national_id", "reason"),
    [
        (_wrong_check(GOOD_ID), "check_digit"),
        (GOOD_ID[:-1], "format"),
        (GOOD_ID[:-1] + "Y", "format"),
        (make_national_id("990101", "19900307", "123"), "region"),
        (make_national_id("110101", "19900230", "123"), "birth_date"),
        (make_national_id("110101", "20990101", "123"), "birth_date"),
    ],
)
def test_enrol_refuses_a_bad_national_id(
    env: dict[str, str | None], national_id: str, reason: str
) -> None:
    result = kaimen(env, "enrol", "--phone", "+8613812345678", "--national-id", national_id)
    assert result.exit_code == 1, result.output
    assert f"{reason}:" in result.stderr
    assert national_id not in result.output  # the number is never echoed back
    status = kaimen(env, "status")
    assert "people enrolled: 0;" in status.stdout


def test_enrol_refuses_a_bad_phone(env: dict[str, str | None]) -> None:
    result = kaimen(env, "enrol", "--phone", "12345", "--national-id", GOOD_ID)
    assert result.exit_code == 1, result.output
    assert "phone_format:" in result.stderr


def test_enrol_one_person_and_refuse_a_second_enrolment(env: dict[str, str | None]) -> None:
    first = kaimen(
        env, "enrol", "--phone", "138 1234 5678", "--national-id", GOOD_ID, "--person-id", "alice"
    )
    assert first.exit_code == 0, first.output
    assert "enrolled as alice" in first.stdout

    same_id = kaimen(env, "enrol", "--phone", "+8613900000000", "--national-id", GOOD_ID)
    assert same_id.exit_code == 1, same_id.output
    assert "identity_taken" in same_id.stderr

    exact_repeat = kaimen(env, "enrol", "--phone", "+8613812345678", "--national-id", GOOD_ID)
    assert exact_repeat.exit_code == 1, exact_repeat.output
    assert "identity_taken" in exact_repeat.stderr

    other = make_national_id("110101", "19850101", "002")
    other_id = kaimen(env, "enrol", "--phone", "+8613812345678", "--national-id", other)
    assert other_id.exit_code == 1, other_id.output
    assert "phone_taken" in other_id.stderr

    taken_person = kaimen(
        env, "enrol", "--phone", "+8613700000000", "--national-id", other, "--person-id", "alice"
    )
    assert taken_person.exit_code == 1, taken_person.output
    assert "person_id_taken" in taken_person.stderr

    second = kaimen(env, "enrol", "--phone", "+8613700000000", "--national-id", other)
    assert second.exit_code == 0, second.output
    assert re.search(r"enrolled as P[0-9A-F]{16}\b", second.stdout)
    assert "people enrolled: 2;" in kaimen(env, "status").stdout


def test_enrol_normalises_a_lower_case_x(env: dict[str, str | None]) -> None:
    upper = next(
        value
        for value in (make_national_id("110101", "19850101", f"{i:03d}") for i in range(1000))
        if value.endswith("X")
    )
    first = kaimen(env, "enrol", "--phone", "+8613812345678", "--national-id", upper.lower())
    assert first.exit_code == 0, first.output
    again = kaimen(env, "enrol", "--phone", "+8613900000000", "--national-id", upper)
    assert again.exit_code == 1, again.output
    assert "identity_taken" in again.stderr


def test_enrol_needs_phone_and_id_or_a_file(env: dict[str, str | None], tmp_path: Path) -> None:
    only_phone = kaimen(env, "enrol", "--phone", "+8613812345678")
    assert only_phone.exit_code == 2
    assert "--national-id" in only_phone.stderr
    both = kaimen(env, "enrol", "--phone", "+8613812345678", "--file", str(tmp_path / "x.csv"))
    assert both.exit_code == 2


def test_enrol_file_with_bad_rows_writes_a_report(
    env: dict[str, str | None], tmp_path: Path
) -> None:
    people = tmp_path / "people.csv"
    good = make_national_id("310101", "19800101", "001")
    people.write_text(
        "person_id,phone,national_id\n"
        f"p1,+8613800000001,{good}\n"
        f"p2,+8613800000002,{_wrong_check(make_national_id('310101', '19800101', '002'))}\n"
        f"p3,+8613800000001,{make_national_id('310101', '19800101', '003')}\n"
    )
    report = tmp_path / "report.csv"
    result = kaimen(env, "enrol", "--file", str(people), "--report", str(report))
    assert result.exit_code == 1, result.output
    assert "line 3: national_id: check_digit" in result.stderr
    assert "line 4: phone: repeats line 2" in result.stderr
    with report.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["line", "field", "reason"]
    assert [r[:2] for r in rows[1:]] == [["3", "national_id"], ["4", "phone"]]
    assert "people enrolled: 0;" in kaimen(env, "status").stdout


# -- ingesting a bad file -----------------------------------------------------------------------


def test_ingest_of_a_bad_file_stores_nothing_and_reports_every_problem(
    env: dict[str, str | None], tmp_path: Path
) -> None:
    enrolled = kaimen(
        env, "enrol", "--phone", "+8613812345678", "--national-id", GOOD_ID, "--person-id", "alice"
    )
    assert enrolled.exit_code == 0, enrolled.output
    events = tmp_path / "events.csv"
    events.write_text(
        "source,event_id,person_id,kind,occurred_at,amount,currency,merchant_category\n"
        "shop,e1,alice,payment,2026-05-01T10:00:00+08:00,12.50,CNY,groceries\n"
        "shop,e2,alice,payment,2026-05-02T10:00:00+08:00,-5,CNY,groceries\n"
        "shop,e3,bob,payment,2026-05-03T10:00:00+08:00,7.00,XYZ,groceries\n"
        "shop,e4,alice,payment,2026-05-04T10:00:00,7.00,CNY,groceries\n"
    )
    report = tmp_path / "problems.csv"
    result = kaimen(env, "ingest", str(events), "--report", str(report))
    assert result.exit_code == 1, result.output
    assert "3 bad row(s); nothing was stored" in result.stderr
    assert "line 3: amount: must not be negative: -5" in result.stderr
    assert "line 4: person_id: not an enrolled person: bob" in result.stderr
    assert "line 4: currency: not an ISO 4217 currency code: XYZ" in result.stderr
    assert "line 5: occurred_at: has no UTC offset" in result.stderr
    assert "line 2:" not in result.stderr
    assert str(report) in result.stderr.replace("\n", "")

    with report.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["line"], r["field"]) for r in rows] == [
        ("3", "amount"),
        ("4", "currency"),
        ("4", "person_id"),
        ("5", "occurred_at"),
    ]
    assert rows[0]["reason"] == "must not be negative: -5"

    status = kaimen(env, "status")
    assert "lake files: 0;" in status.stdout
    assert "audit log rows: 1" in status.stdout  # only the enrolment

    # Fixed, the same file goes in whole.
    events.write_text(
        "source,event_id,person_id,kind,occurred_at,amount,currency,merchant_category\n"
        "shop,e1,alice,payment,2026-05-01T10:00:00+08:00,12.50,CNY,groceries\n"
        "shop,e2,alice,payment,2026-05-02T10:00:00+08:00,5,CNY,groceries\n"
    )
    fixed = kaimen(env, "ingest", str(events))
    assert fixed.exit_code == 0, fixed.output
    assert "new 2, duplicate 0, rejected 0" in fixed.stdout


HEADER = "source,event_id,person_id,kind,occurred_at,amount,currency,merchant_category\n"


def test_ingest_names_a_malformed_csv_line(env: dict[str, str | None], tmp_path: Path) -> None:
    kaimen(env, "enrol", "--phone", "+8613812345678", "--national-id", GOOD_ID, "--person-id", "a")
    events = tmp_path / "events.csv"
    events.write_text(
        HEADER + "shop,e1,a,payment,2026-05-01T10:00:00Z,1.00,CNY,groceries\n"
        "shop,e2,a,payment,2026-05-01T10:00:00Z,1.00,CNY,groceries,extra\n"
        "shop,e3,a,payment,2026-05-01T10:00:00Z,1.00,CNY,groceries\n"
        "shop,e4,a,payment\n"
    )
    result = kaimen(env, "ingest", str(events))
    assert result.exit_code == 1, result.output
    assert "line 3: *: has 9 fields, the header has 8" in result.stderr
    assert "line 5: *: has 4 fields, the header has 8" in result.stderr
    assert "2 bad row(s)" in result.stderr


def test_ingest_without_a_report_prints_the_first_200_problems(
    env: dict[str, str | None], tmp_path: Path
) -> None:
    events = tmp_path / "events.csv"
    events.write_text(
        HEADER
        + "".join(
            f"shop,e{i},nobody,payment,2026-05-01T10:00:00Z,1.00,CNY,groceries\n"
            for i in range(250)
        )
    )
    result = kaimen(env, "ingest", str(events))
    assert result.exit_code == 1, result.output
    assert "250 bad row(s)" in result.stderr
    assert "line 201: person_id: not an enrolled person: nobody" in result.stderr
    assert "line 202: person_id" not in result.stderr
    assert "... and 50 more (use --report FILE for the full list)" in result.stderr


def test_ingest_of_a_missing_or_unknown_file(env: dict[str, str | None], tmp_path: Path) -> None:
    missing = kaimen(env, "ingest", str(tmp_path / "nope.csv"))
    assert missing.exit_code == 1
    assert "no such file" in missing.stderr
    folder = kaimen(env, "ingest", str(tmp_path))
    assert folder.exit_code == 1 and "a folder, not a file" in folder.stderr
    pipe = tmp_path / "pipe.csv"
    os.mkfifo(pipe)  # read, it would wait forever for a writer
    piped = kaimen(env, "ingest", str(pipe))
    assert piped.exit_code == 1 and "not a regular file" in piped.stderr
    odd = tmp_path / "events.xlsx"
    odd.write_text("x")
    unknown = kaimen(env, "ingest", str(odd))
    assert unknown.exit_code == 1
    assert "unknown file type" in unknown.stderr


# -- simulate arguments ------------------------------------------------------------------------


def _next_month(month: str) -> str:
    year, number = (int(part) for part in month.split("-"))
    return f"{year + number // 12}-{number % 12 + 1:02d}"


@pytest.mark.parametrize(
    "month",
    [
        _next_month(last_full_month(dt.date.today())),  # the current month has not ended
        "2999-01",
        "2026-13",
        "2026-00",
        "June 2026",
        "2026-06-01",
        "2025-6",  # strptime accepts a one-digit month; the simulator does not
    ],
)
def test_simulate_refuses_a_bad_last_month(
    env: dict[str, str | None], tmp_path: Path, month: str
) -> None:
    out = tmp_path / "sim"
    result = kaimen(env, "simulate", "--people", "5", "--out", str(out), "--last-month", month)
    assert result.exit_code == 2, (result.output, result.exception)
    assert "--last-month" in result.stderr
    assert not out.exists()


def test_simulate_refuses_an_unknown_format(env: dict[str, str | None], tmp_path: Path) -> None:
    result = kaimen(env, "simulate", "--out", str(tmp_path / "sim"), "--format", "xlsx")
    assert result.exit_code == 2
    assert "--format must be one of parquet, csv, jsonl" in result.stderr


def test_simulate_refuses_no_people(env: dict[str, str | None], tmp_path: Path) -> None:
    result = kaimen(env, "simulate", "--people", "0", "--out", str(tmp_path / "sim"))
    assert result.exit_code == 2


def test_simulate_defaults_to_the_last_full_month(
    env: dict[str, str | None], tmp_path: Path
) -> None:
    out = tmp_path / "sim"
    result = kaimen(env, "simulate", "--people", "10", "--months", "1", "--out", str(out))
    assert result.exit_code == 0, result.output
    month = last_full_month(dt.date.today())
    assert f"({month} to {month})" in result.stdout
    assert json.loads((out / "simulation.json").read_text())["last_month"] == month


def test_simulate_is_deterministic_through_the_cli(
    env: dict[str, str | None], tmp_path: Path
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert _simulate(env, a, "--format", "csv") == _simulate(env, b, "--format", "csv")
    assert (a / "people.csv").read_bytes() == (b / "people.csv").read_bytes()
    assert (a / "events.csv").read_bytes() == (b / "events.csv").read_bytes()


# -- the audit log -------------------------------------------------------------------------------


def _enrol_three(env: dict[str, str | None]) -> None:
    for number in range(1, 4):
        result = kaimen(
            env,
            "enrol",
            "--phone",
            f"+861380000000{number}",
            "--national-id",
            make_national_id("440103", "19750101", f"00{number}"),
        )
        assert result.exit_code == 0, result.output


def test_audit_verify_names_an_edited_row(env: dict[str, str | None]) -> None:
    _enrol_three(env)
    assert "audit log verified: 3 rows" in kaimen(env, "audit", "verify").stdout
    engine = create_engine(_sqlite_url(env))
    with engine.begin() as connection:
        changed = connection.execute(
            text("UPDATE audit_log SET details = :details WHERE seq = 2"),
            {"details": '{"already":0,"enrolled":5,"source":"single"}'},
        )
        assert changed.rowcount == 1
    engine.dispose()
    result = kaimen(env, "audit", "verify")
    assert result.exit_code == 1, result.output
    assert "audit log row 2:" in result.stderr
    assert "edited" in result.stderr
    assert "chain intact" not in result.stdout


def test_audit_verify_names_a_deleted_row(env: dict[str, str | None]) -> None:
    _enrol_three(env)
    engine = create_engine(_sqlite_url(env))
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_log WHERE seq = 2"))
    engine.dispose()
    result = kaimen(env, "audit", "verify")
    assert result.exit_code == 1, result.output
    assert "audit log row 2:" in result.stderr


# -- PostgreSQL ------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_cli_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    env = _env(tmp_path / "home", postgres_url)
    out, events = _flow(env, tmp_path)

    again = kaimen(env, "ingest", str(out / "events.parquet"))
    assert again.exit_code == 0, again.output
    assert f"new 0, duplicate {events:,}, rejected 0" in again.stdout

    taken = kaimen(
        env, "enrol", "--phone", "+8613900000000", "--national-id", _first_national_id(out)
    )
    assert taken.exit_code == 1
    assert "identity_taken" in taken.stderr

    status = kaimen(env, "status")
    assert status.exit_code == 0, status.output
    assert "people enrolled: 120;" in status.stdout
    assert "payment" in status.stdout
    # Nothing went to the SQLite file: the store is PostgreSQL.
    assert not (tmp_path / "home" / "kaimen.sqlite").exists()

    verified = kaimen(env, "audit", "verify")
    assert verified.exit_code == 0, verified.output
    assert "audit log verified: 2 rows, chain intact" in verified.stdout

    engine = create_engine(postgres_url)
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE audit_log SET details = details || ' ' WHERE seq = 2"),
        )
    engine.dispose()
    broken = kaimen(env, "audit", "verify")
    assert broken.exit_code == 1, broken.output
    assert "audit log row 2:" in broken.stderr


def _first_national_id(folder: Path) -> str:
    with (folder / "people.csv").open(newline="") as handle:
        return next(csv.DictReader(handle))["national_id"]


def test_simulated_people_file_is_what_the_cli_enrols(tmp_path: Path) -> None:
    """`simulate()` and the CLI write the same people file for the same arguments."""
    summary = simulate(120, 3, 5, tmp_path / "direct", "2026-06")
    env = _env(tmp_path / "home")
    assert _simulate(env, tmp_path / "cli") == summary.events
    assert (tmp_path / "direct" / "people.csv").read_bytes() == (
        tmp_path / "cli" / "people.csv"
    ).read_bytes()


def test_enrol_takes_a_name_and_refuses_a_bad_one(env: dict[str, str | None]) -> None:
    bad = kaimen(env, "enrol", "--phone", "13812345678", "--national-id", GOOD_ID, "--name", "王2")
    assert bad.exit_code == 1, bad.output
    assert "name_format:" in bad.stderr
    good = kaimen(
        env, "enrol", "--phone", "13812345678", "--national-id", GOOD_ID, "--name", "Wáng Wěi"
    )
    assert good.exit_code == 0, good.output
    assert "people enrolled: 1;" in kaimen(env, "status").stdout


def test_score_runs_under_the_configured_profile(env: dict[str, str | None]) -> None:
    """The batch takes KAIMEN_PROFILE as every other command does (it used cn whatever the
    setting said, so under eu a court listing still cost cn's points)."""
    result = kaimen({**env, "KAIMEN_PROFILE": "nosuch"}, "score", "--month", "2026-01")
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert "KAIMEN_PROFILE must be one of" in " ".join(result.output.split()), result.output


def test_a_report_never_overwrites_what_it_reports_on_and_is_read_as_text(
    env: dict[str, str | None], tmp_path: Path
) -> None:
    events = tmp_path / "events.csv"
    events.write_text(
        'source,event_id,person_id,kind,occurred_at,=HYPERLINK("http://x.example")\n'
        "shop,e1,nobody,\x1b[2J\x1b[31mFAKE,2026-05-01T10:00:00Z,\n"
    )
    before = events.read_bytes()
    for report, says in (
        (events, "is the file being read: the report would overwrite it"),
        (tmp_path, "is a folder, not a file"),
        (tmp_path / "missing" / "r.csv", "its folder does not exist"),
    ):
        refused = kaimen(env, "ingest", str(events), "--report", str(report))
        assert refused.exit_code == 2, refused.output
        assert says in " ".join(refused.output.split()), refused.output
    assert events.read_bytes() == before
    report = tmp_path / "problems.csv"
    rejected = kaimen(env, "ingest", str(events), "--report", str(report))
    assert rejected.exit_code == 1, rejected.output
    with report.open(newline="", encoding="utf-8") as handle:
        cells = [cell for row in csv.reader(handle) for cell in row]
    assert '\'=HYPERLINK("http://x.example")' in cells, cells
    assert not any(cell[:1] in ("=", "+", "-", "@") for cell in cells), cells
    events.write_text(HEADER + "shop,e1,nobody,\x1b[2J\x1b[31mFAKE,2026-05-01T10:00:00Z,,,\n")
    rejected = kaimen(env, "ingest", str(events), "--report", str(report))
    assert rejected.exit_code == 1, rejected.output
    assert "\x1b" not in rejected.output and "\\x1b[2J" in rejected.output
    with report.open(newline="", encoding="utf-8") as handle:
        assert "\x1b" not in handle.read()
