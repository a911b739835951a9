"""The person's connections (their own token): read them, opt in or out, lend or withdraw.

Under a profile that switches the dimension off (`eu`) every route answers 403
`urn:kaimen:problem:connections-off`, with the profile's reason in `detail` and
`off_because`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from pydantic import Field

from kaimen.api import problems
from kaimen.api.deps import Person, Store, person_id_of
from kaimen.api.json_bodies import api_router
from kaimen.api.schemas import Rendered
from kaimen.config import Workspace
from kaimen.connections import choosing, reading
from kaimen.connections.choosing import CHANGES, Change, ChoiceMade
from kaimen.domain.callers import Caller

router = api_router()
RESPONSES = problems.documented(
    401, 403, s403="only the person, with their own token; or connections are off here"
)


class ChoicesOut(Rendered):
    counts_friends: bool = Field(description="my consenting friends' points count for me")
    counts_friends_at: dt.datetime | None
    counts_friends_by: str | None
    lends_score: bool = Field(description="my score counts for my friends who opted in")
    lends_score_at: dt.datetime | None
    lends_score_by: str | None


class RescoredOut(Rendered):
    month: str
    score_before: int | None
    score_after: int | None


class ChoiceOut(Rendered):
    choices: ChoicesOut
    rescored: list[RescoredOut] = Field(
        description="my score (opting in or out) or my friends' (lending or withdrawing) "
        "re-scored at once; friends' ids are not shown"
    )


class CountingFriendOut(Rendered):
    friend_id: str
    adds: int = Field(description="whole points this friend adds before the cap")


class MyConnectionsOut(Rendered):
    profile: str
    choices: ChoicesOut
    cap: int = Field(description="the most, in points, friends can move my score")
    per_friend: float
    pivot: int = Field(description="a friend's base score at or below this adds nothing")
    positive_only: bool
    month: str | None = Field(description="the month of my newest published score")
    published_points: int | None = Field(description="what friends added to it")
    published_friends: int | None
    counting: list[CountingFriendOut] = Field(description="friends who count if re-scored now")
    not_counting: int = Field(description="friends who lent no score (or have none)")
    points_now: int | None = Field(description="what they would add now, within cap and band")


def _made(made: ChoiceMade) -> ChoiceOut:
    rescored = [
        RescoredOut(month=r.month, score_before=r.score_before, score_after=r.score_after)
        for r in made.revisions
        # A friend's re-score is theirs: the person sees only their own.
        if r.person_id == made.choices.person_id
    ]
    return ChoiceOut(choices=ChoicesOut.model_validate(made.choices), rescored=rescored)


@router.get(
    "/v1/me/connections",
    response_model=MyConnectionsOut,
    tags=["me"],
    responses=RESPONSES,
    summary="My connections: my choices, the cap, which friends count and what they add",
)
def get_connections(ws: Store, me: Person) -> MyConnectionsOut:
    read = reading.my_connections(ws.engine, ws.lake_root, ws.profile(), me, person_id_of(me))
    return MyConnectionsOut.model_validate(read)


def _route(wanted: Change) -> Callable[[Workspace, Caller], ChoiceOut]:
    """The person's route for one change (the four differ only in the change)."""

    def endpoint(ws: Store, me: Person) -> ChoiceOut:
        made = choosing.change(ws.engine, ws.profile(), me, person_id_of(me), wanted, ws.lake_root)
        return _made(made)

    endpoint.__name__ = f"post_{wanted.name.replace('-', '_')}"
    return endpoint


for _wanted in CHANGES.values():
    router.post(
        f"/v1/me/connections/{_wanted.name}",
        response_model=ChoiceOut,
        tags=["me"],
        responses=RESPONSES,
        summary=_wanted.does.replace("the person's", "my").replace("their", "my"),
    )(_route(_wanted))
