"""People's own tokens: issued only to someone enrolled, stored only as a hash, and a revoked
or unknown token names no one."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, select, update

from kaimen.store import person_tokens
from kaimen.store.tables import person_tokens as tokens_table
from tests.store.store_rows import T0, enrol, mark_opted_out


def issue(engine: Engine, person_id: str, now: dt.datetime = T0) -> str:
    with engine.begin() as connection:
        return person_tokens.issue(connection, person_id, now)


def person_of(engine: Engine, token: str) -> str | None:
    with engine.connect() as connection:
        return person_tokens.person_of(connection, token)


def test_a_token_names_its_person_and_only_its_hash_is_kept(engine: Engine) -> None:
    enrol(engine, "P1", "P2")
    first, second, other = issue(engine, "P1"), issue(engine, "P1"), issue(engine, "P2")
    assert len({first, second, other}) == 3
    assert (person_of(engine, first), person_of(engine, second)) == ("P1", "P1")
    assert person_of(engine, other) == "P2"
    assert person_of(engine, first[:-1]) is None
    assert person_of(engine, "") is None
    with engine.connect() as connection:
        stored = connection.execute(select(tokens_table)).all()
    kept = " ".join(str(value) for row in stored for value in row)
    assert all(token not in kept for token in (first, second, other))


def test_no_token_for_someone_not_enrolled_or_gone(engine: Engine) -> None:
    enrol(engine, "P1")
    mark_opted_out(engine, "P1")
    for person_id in ("P1", "nobody"):
        with pytest.raises(KeyError):
            issue(engine, person_id)
    with engine.connect() as connection:
        assert connection.execute(select(tokens_table)).all() == []


def test_a_revoked_token_names_no_one(engine: Engine) -> None:
    enrol(engine, "P1")
    revoked, kept = issue(engine, "P1"), issue(engine, "P1", T0 + dt.timedelta(days=1))
    with engine.begin() as connection:
        connection.execute(
            update(tokens_table).where(tokens_table.c.created_at == T0).values(revoked_at=T0)
        )
    assert person_of(engine, revoked) is None
    assert person_of(engine, kept) == "P1"
