"""A person reads their connections: their choices, the bound, which friends count and what
they add.

What friends added to the newest published score is read from the store (what the batch or
the last re-score wrote); which friends count *now*, and what they would add if the person
were re-scored now, is computed by the batch's own code for this one person. Each counting
friend is shown with the whole points they add before the cap, never their score: a friend
lent their score to count, not to be read (a whole point is a band of about a hundred score
points at the shipped profiles). The read is one transaction with an audit row and an
access-log row for the person, and one in each counting friend's log, since something of
their score was shown. Under a profile that switches the dimension off the read is refused,
saying why.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, Engine

from kaimen.connections.choosing import (
    ACCESS_PURPOSE,
    ACCESS_WHAT,
    NotEnrolled,
    acting_for,
    check_on,
)
from kaimen.domain.callers import Caller
from kaimen.domain.connections import connections_points, friend_weight
from kaimen.domain.json_values import JsonObject
from kaimen.domain.profiles import Profile
from kaimen.engines.embedded import ibis_connection
from kaimen.scoring.connections_added import friends_of
from kaimen.store import access_log, audit, lake_manifest, people, scores
from kaimen.store import connections as connection_rows
from kaimen.store.connections import BASE_SCHEMA, Choices

LENT_WHAT = "lent_score"


@dataclass(frozen=True)
class CountingFriend:
    friend_id: str
    # What this friend adds before the cap, in whole points (never their score).
    adds: int


@dataclass(frozen=True)
class MyConnections:
    person_id: str
    profile: str
    choices: Choices
    # The bound, as the profile sets it.
    cap: int
    per_friend: float
    pivot: int
    positive_only: bool
    # The newest published score's month, and what friends added to it and how many counted
    # (None: not opted in then, or no score).
    month: str | None
    published_points: int | None
    published_friends: int | None
    # Friends whose score counts if the person is re-scored now, and what they would add
    # (after the cap and the band rule; None without a score or without opting in).
    counting: tuple[CountingFriend, ...]
    not_counting: int
    points_now: int | None


def my_connections(
    engine: Engine,
    lake_root: Path,
    profile: Profile,
    caller: Caller,
    person_id: str,
    now: dt.datetime | None = None,
) -> MyConnections:
    """The person's connections as they stand (the person, or the admin acting for them)."""
    check_on(profile)
    acting_for(caller, person_id)
    now = now or dt.datetime.now(dt.UTC)
    rules = profile.connections
    with engine.connect() as store:
        if people.status_of(store, person_id) != "active":
            raise NotEnrolled(f"{person_id} is not an enrolled person")
        choices = connection_rows.choices_of(store, person_id)
        snapshot = scores.latest(store, person_id)
        lake_paths = [lake_root / path for path in lake_manifest.files(store)]
        stored = previous = None
        if snapshot is not None:
            stored = connection_rows.points_of(
                store, person_id, snapshot.month, snapshot.model_version
            )
            previous = connection_rows.run_before(store, snapshot.month)
    friend_ids: list[str] = []
    lenders = BASE_SCHEMA.empty_table()
    if snapshot is not None:
        friend_ids = friends_of(ibis_connection(), lake_paths, snapshot.month, [person_id])
        if previous is not None and friend_ids:
            with engine.connect() as store:
                lenders = connection_rows.base_scores(store, *previous, friend_ids)
    bases = dict(
        zip(
            lenders.column("person_id").to_pylist(),
            lenders.column("base_score").to_pylist(),
            strict=True,
        )
    )
    counting = tuple(
        CountingFriend(f, round(friend_weight(bases[f], rules))) for f in sorted(bases)
    )
    points_now = None
    if snapshot is not None and snapshot.score is not None and choices.counts_friends:
        base = snapshot.score - (stored.points if stored else 0)
        points_now = connections_points(base, bases.values(), rules)
    read = MyConnections(
        person_id,
        profile.name,
        choices,
        rules.cap,
        rules.per_friend,
        rules.pivot,
        rules.positive_only,
        None if snapshot is None else snapshot.month,
        None if stored is None else stored.points,
        None if stored is None else stored.friends_counted,
        counting,
        len(set(friend_ids)) - len(counting),
        points_now,
    )

    def work(store: Connection) -> MyConnections:
        shown: JsonObject = {
            "counts_friends": choices.counts_friends,
            "lends_score": choices.lends_score,
            "friends_counting": len(counting),
            "points_now": points_now,
        }
        audit.append(store, caller.actor, "connections.read", subject=person_id, now=now)
        # Unless the person opted out meanwhile (their log is gone with them).
        access_log.record_if_active(
            store, person_id, caller.actor, ACCESS_PURPOSE, ACCESS_WHAT, shown, now
        )
        access_log.record_many(
            store,
            [
                (
                    f.friend_id,
                    caller.actor,
                    ACCESS_PURPOSE,
                    LENT_WHAT,
                    {"shown_to": person_id, "adds": f.adds},
                )
                for f in counting
            ],
            now,
        )
        return read

    return audit.audited_transaction(engine, work)
