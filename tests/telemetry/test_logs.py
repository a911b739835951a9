"""JSON log lines: one object per line, typed fields, the request id, nothing sensitive."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert
from sqlalchemy.exc import IntegrityError

from kaimen.store.database import open_store
from kaimen.store.tables import people
from kaimen.telemetry.logs import REQUEST_ID, JsonFormatter, configure_logging
from tests.telemetry.captured import CapturedLogs

log = logging.getLogger("kaimen.test")
NOW = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)


def test_each_record_is_one_json_object_with_typed_fields(logs: CapturedLogs) -> None:
    log.info("scored %s people", 12, extra={"people": 12, "share": 0.5, "thin": False})
    log.warning("two\nlines")
    first, second = logs.records()
    assert first["message"] == "scored 12 people"
    assert (first["level"], first["logger"]) == ("INFO", "kaimen.test")
    assert (first["people"], first["share"], first["thin"]) == (12, 0.5, False)
    assert first["request_id"] is None
    assert str(first["time"]).endswith("+00:00")
    assert second["message"] == "two\nlines"
    assert len(logs.text.splitlines()) == 2


def test_fields_keep_their_order_and_the_time_its_milliseconds() -> None:
    formatter = JsonFormatter()
    at = dt.datetime(2026, 11, 1, 12, 0, 59, tzinfo=dt.UTC).timestamp()
    for created, written in [
        (at + 0.25, "2026-11-01T12:00:59.250+00:00"),
        (at + 0.9999996, "2026-11-01T12:01:00.000+00:00"),  # rounded to the microsecond first
        (at + 1.0015, "2026-11-01T12:01:00.001+00:00"),
    ]:
        record = log.makeRecord(log.name, logging.INFO, "f", 1, "m", (), None)
        record.created = created
        for name, value in [("zeta", 1), ("alpha", "a"), ("level", "not the level")]:
            setattr(record, name, value)
        line = json.loads(formatter.format(record))
        assert line["time"] == written
        assert list(line)[-2:] == ["zeta", "alpha"]  # as given; a record's own names stay
        assert line["level"] == "INFO"


def test_the_request_id_in_context_is_on_every_line(logs: CapturedLogs) -> None:
    token = REQUEST_ID.set("req-1")
    try:
        log.info("inside")
    finally:
        REQUEST_ID.reset(token)
    log.info("outside")
    inside, outside = logs.records()
    assert (inside["request_id"], outside["request_id"]) == ("req-1", None)


def test_exception_text_is_masked_too(logs: CapturedLogs) -> None:
    try:
        raise ValueError("bad phone 13800138000 for 11010519491231002X")
    except ValueError:
        log.exception("failed")
    text = logs.text
    assert "13800138000" not in text and "11010519491231002X" not in text
    (record,) = logs.records()
    assert record["error"] == "ValueError"
    assert "[phone]" in str(record["traceback"])


def test_sql_statements_and_parameters_stay_out_even_when_asked_for(logs: CapturedLogs) -> None:
    engine = create_engine("sqlite://")
    statements = logging.getLogger("sqlalchemy.engine")
    statements.setLevel(logging.DEBUG)  # someone turns statement logging on
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT ?", ("+8613800138000",))
    finally:
        statements.setLevel(logging.NOTSET)
    log.info("after")
    assert [record["message"] for record in logs.records()] == ["after"]


def test_store_errors_never_carry_statement_parameters(tmp_path: Path) -> None:
    engine = open_store(f"sqlite:///{tmp_path / 'k.sqlite'}")
    row = {"person_id": "+8613800138000", "birth_date": dt.date(1990, 3, 7), "enrolled_at": NOW}
    with pytest.raises(IntegrityError) as caught, engine.begin() as store:
        store.execute(insert(people).values(**row))
        store.execute(insert(people).values(**row))
    assert "13800138000" not in str(caught.value)
    assert "parameters hidden" in str(caught.value)


def test_configuring_again_replaces_the_handler(restore_logging: None) -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging("INFO", first)
    configure_logging("warning", second)
    log.info("not shown")
    log.warning("shown")
    assert first.getvalue() == ""
    assert [json.loads(line)["message"] for line in second.getvalue().splitlines()] == ["shown"]


def test_named_secrets_are_masked(restore_logging: None) -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream, ["an-admin-token-of-some-length"])
    log.info("header was an-admin-token-of-some-length")
    assert "an-admin-token-of-some-length" not in stream.getvalue()


def test_an_unknown_level_is_refused(restore_logging: None) -> None:
    with pytest.raises(ValueError, match="log level"):
        configure_logging("LOUD", io.StringIO())


def test_chatter_and_terminal_colours_are_left_out(logs: CapturedLogs) -> None:
    migration = logging.getLogger("alembic.runtime.migration")
    migration.info("Context impl %s.", "SQLiteImpl")
    migration.info("Will assume %s DDL.", "transactional")
    migration.info("Running upgrade %s -> %s", "0005", "0006")
    logging.getLogger("uvicorn.error").info("Started", extra={"color_message": "\x1b[36mStarted"})
    assert [(r["message"], "color_message" in r) for r in logs.records()] == [
        ("Running upgrade 0005 -> 0006", False),
        ("Started", False),
    ]
