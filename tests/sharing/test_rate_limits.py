"""Partners' rate limits and threshold probing (kaimen.sharing.rate_limits), on both stores:
per key, per partner and person, the stricter limit on decisions at ever new thresholds, and
refused attempts (no consent, stopped for probing) in the person's access log."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine, func, select

from kaimen.domain.errors import ConfigurationError, KaimenError, RateLimited
from kaimen.sharing import (
    attempts,
    consenting,
    deciding,
    decision_batches,
    in_process_counters,
    offering,
    partnering,
    reports,
)
from kaimen.sharing.rate_limits import Counted, DecisionAsked, LimitSettings, PartnerLimits
from kaimen.store import access_log
from kaimen.store.tables import access_log as access_log_table
from kaimen.store.tables import decisions, score_snapshots
from tests.population import LAST, Population, World

PARTNER = "prober"
LOWEST, STEP, OFFERS = 350, 12, 51


@dataclass(frozen=True)
class Setting:
    """The population's store, and a partner with 51 offers 12 points apart."""

    world: World
    decisions_key: str
    reports_key_id: str
    offers: list[tuple[int, int]]  # (offer id, its minimum score), lowest first
    scored: list[str]  # people scored in the middle of the range


@pytest.fixture(scope="module")
def setting(scored_copy: Population) -> Iterator[Setting]:
    with scored_copy.opened() as world:
        engine = world.engine
        with engine.connect() as store:
            scored = store.execute(
                select(score_snapshots.c.person_id)
                .where(score_snapshots.c.month == LAST, score_snapshots.c.score.between(500, 800))
                .order_by(score_snapshots.c.person_id)
                .limit(40)
            ).scalars()
            middle = [str(person) for person in scored]
        partnering.add_partner(engine, PARTNER, "Prober Ltd", "admin")
        key = partnering.issue_key(engine, PARTNER, ["decisions", "reports"], "admin")
        offers = []
        for index in range(OFFERS):
            minimum = LOWEST + STEP * index
            terms = offering.OfferTerms(f"Card {minimum}", "a card", minimum)
            offers.append((offering.publish_offer(engine, PARTNER, terms, "p").offer_id, minimum))
        yield Setting(world, key.secret, key.key.key_id, offers, middle)


def _consent(engine: Engine, person: str, purpose: str = "decision") -> None:
    request = consenting.ConsentRequest(PARTNER, purpose)
    consenting.grant_consent(engine, person, request, f"person:{person}", dt.datetime.now(dt.UTC))


def _log(engine: Engine, person: str) -> list[access_log.Access]:
    with engine.connect() as store:
        return access_log.of_person(store, person)


def _counts(engine: Engine) -> tuple[int, int]:
    with engine.connect() as store:
        return (
            store.execute(select(func.count()).select_from(decisions)).scalar_one(),
            store.execute(select(func.count()).select_from(access_log_table)).scalar_one(),
        )


REDIS_URL = os.environ.get("KAIMEN_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
STORAGES = ["memory", "redis"]


def _redis_or_skip() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as error:
        pytest.skip(f"no Redis at {REDIS_URL}: {error}")


def _limits(storage: str, **settings: str) -> PartnerLimits:
    """Limits in this process's memory, or in the machine's Redis with no count left over
    from an earlier test."""
    if storage == "memory":
        return PartnerLimits(LimitSettings(**settings))
    _redis_or_skip()
    limits = PartnerLimits(LimitSettings(**settings, storage_uri=REDIS_URL))
    limits.reset()
    return limits


def _other_people(storage: str) -> int:
    """Where a test's people start among the scored ones: each storage asks about its own
    (the access log of a person asked about under the other would hold those answers too)."""
    return 0 if storage == "memory" else 20


def _bracket(answers: list[tuple[int, bool]]) -> int:
    """How narrow the partner's answers pin the score: the lowest declined minimum less the
    highest approved one (the score lies between), on the scale's ends without either."""
    approved = [minimum for minimum, yes in answers if yes]
    declined = [minimum for minimum, yes in answers if not yes]
    return min(declined, default=950) - max(approved, default=350)


@pytest.mark.parametrize("storage", STORAGES)
def test_the_probing_attack_is_stopped_before_it_brackets_the_score(
    setting: Setting, storage: str
) -> None:
    """The issue's attack: 51 offers 12 points apart, one decision on each, one at a time."""
    engine = setting.world.engine
    person = setting.scored[0 + _other_people(storage)]
    _consent(engine, person)
    limits = _limits(storage)
    answers: list[tuple[int, bool]] = []
    stopped: list[RateLimited] = []
    for offer_id, minimum in setting.offers:
        try:
            answer = deciding.decide(engine, setting.decisions_key, offer_id, person, limits=limits)
        except RateLimited as refusal:
            stopped.append(refusal)
            continue
        answers.append((minimum, answer.decision.approved))
    # The first threshold is free, then three flagged as probing; the rest refused.
    assert len(answers) == 4
    assert len(stopped) == OFFERS - 4
    assert all(refusal.retry_after >= 1 for refusal in stopped)
    # Twelve points was the attack's resolution: it is nowhere near it.
    assert _bracket(answers) > 10 * STEP
    log = _log(engine, person)
    flags = [entry.flag for entry in log if entry.actor == f"partner:{PARTNER}"]
    assert flags.count(attempts.PROBING) == 3
    assert flags.count(None) == 1
    # Stopped for probing: in the log too (until the per-person limit stops even that).
    limited = [entry for entry in log if entry.flag == attempts.refusal_flag("probing limit")]
    assert limited
    assert all(entry.disclosed["status"] == 429 for entry in limited)


@pytest.mark.parametrize("storage", STORAGES)
def test_questions_at_once_are_stopped_alike(setting: Setting, storage: str) -> None:
    """The same 51 questions sent at once go into one batch of the API's decisions (one
    transaction on SQLite, two statements on PostgreSQL): counted one by one all the same
    (on Redis, in one script for the batch's keys and one for its people)."""
    engine = setting.world.engine
    person = setting.scored[1 + _other_people(storage)]
    _consent(engine, person)
    limits = _limits(storage)

    async def all_at_once() -> list[deciding.Answer | BaseException]:
        batches = decision_batches.DecisionBatches(engine, limits)
        try:
            return await asyncio.gather(
                *(
                    batches.decide(setting.decisions_key, offer_id, person)
                    for offer_id, _ in setting.offers
                ),
                return_exceptions=True,
            )
        finally:
            batches.close()

    results = asyncio.run(all_at_once())
    answered = [r for r in results if isinstance(r, deciding.Answer)]
    assert len(answered) == 4
    assert all(isinstance(r, RateLimited) for r in results if r not in answered)
    flags = [entry.flag for entry in _log(engine, person)]
    assert flags.count(attempts.PROBING) == 3


def test_the_same_threshold_again_is_not_probing(setting: Setting) -> None:
    engine = setting.world.engine
    person = setting.scored[2]
    _consent(engine, person)
    limits = PartnerLimits(LimitSettings(per_person="100/minute"))
    twin = offering.publish_offer(
        engine, PARTNER, offering.OfferTerms("Twin", "a card", LOWEST + STEP), "p"
    ).offer_id
    first, second = setting.offers[0][0], setting.offers[1][0]
    for offer_id in (first, first, first):
        deciding.decide(engine, setting.decisions_key, offer_id, person, limits=limits)
    assert [entry.flag for entry in _log(engine, person)] == [None, None, None]
    deciding.decide(engine, setting.decisions_key, second, person, limits=limits)
    # Another offer asking the same as one already asked tells nothing new.
    deciding.decide(engine, setting.decisions_key, twin, person, limits=limits)
    deciding.decide(engine, setting.decisions_key, first, person, limits=limits)
    assert [entry.flag for entry in _log(engine, person)][:3] == [None, None, attempts.PROBING]


def test_an_attempt_without_consent_is_in_the_persons_log_and_nowhere_else(
    setting: Setting,
) -> None:
    engine = setting.world.engine
    person = setting.scored[3]
    limits = PartnerLimits()
    offer_id = setting.offers[20][0]
    before = _counts(engine)
    with pytest.raises(deciding.PersonNotFound) as refused:
        deciding.decide(engine, setting.decisions_key, offer_id, person, limits=limits)
    with pytest.raises(deciding.PersonNotFound) as unknown:
        deciding.decide(engine, setting.decisions_key, offer_id, "S-nobody-9", limits=limits)
    # The partner is told exactly what it is told about nobody.
    assert (refused.value.status, refused.value.detail) == (
        unknown.value.status,
        unknown.value.detail,
    )
    # No decision; one access-log row, the person's, saying it was refused and why.
    assert _counts(engine) == (before[0], before[1] + 1)
    [entry] = _log(engine, person)
    assert entry.actor == f"partner:{PARTNER}"
    assert entry.what == "decision"
    assert entry.flag == "refused: no consent"
    assert entry.disclosed == {"status": 404, "detail": deciding.NOT_FOUND}
    assert attempts.refused_reason(entry.flag) == attempts.NO_CONSENT


def test_a_report_without_consent_is_in_the_persons_log(setting: Setting) -> None:
    engine = setting.world.engine
    person = setting.scored[4]
    limits = PartnerLimits(LimitSettings(per_person="2/minute"))
    before = _counts(engine)

    def ask() -> reports.Report:
        return reports.issue_report(
            engine,
            setting.world.lake,
            PARTNER,
            person,
            "a flat",
            f"partner:{PARTNER}",
            limits=limits,
            key_id=setting.reports_key_id,
        )

    for _ in range(2):
        with pytest.raises(deciding.PersonNotFound):
            ask()
    # Rate-limited too: the third is stopped before anything is read or logged.
    with pytest.raises(RateLimited):
        ask()
    assert _counts(engine) == (before[0], before[1] + 2)
    entries = _log(engine, person)
    assert [(e.what, e.flag) for e in entries] == [("report", "refused: no consent")] * 2


@pytest.mark.parametrize("storage", STORAGES)
def test_per_person_and_per_key_limits(setting: Setting, storage: str) -> None:
    engine = setting.world.engine
    first = 5 + _other_people(storage)
    consented, other, without = setting.scored[first : first + 3]
    _consent(engine, consented)
    _consent(engine, other)
    offer_id = setting.offers[10][0]
    limits = _limits(storage, per_person="2/minute", per_key="7/minute")

    def ask(person: str) -> str:
        try:
            deciding.decide(engine, setting.decisions_key, offer_id, person, limits=limits)
        except KaimenError as refusal:
            return type(refusal).__name__
        return "answered"

    # Counted whether or not the person consented, so a 429 tells nothing about consent.
    assert [ask(consented) for _ in range(3)] == ["answered", "answered", "RateLimited"]
    assert [ask(without) for _ in range(3)] == ["PersonNotFound", "PersonNotFound", "RateLimited"]
    before = _counts(engine)
    # Another person is another count, until the key's own limit (7 a minute) is reached:
    # then nothing is written.
    assert [ask(other) for _ in range(2)] == ["answered", "RateLimited"]
    assert _counts(engine) == (before[0] + 1, before[1] + 1)


@pytest.mark.parametrize("storage", STORAGES)
def test_only_the_keys_true_secret_counts_against_its_limit(setting: Setting, storage: str) -> None:
    """Whoever knows a key's id (lists and logs show it) but not its secret is refused as
    an unknown key, and uses up nothing of the key's limit: its partner is not stopped."""
    engine = setting.world.engine
    person = setting.scored[10 + _other_people(storage)]
    _consent(engine, person)
    offer_id = setting.offers[10][0]
    limits = _limits(storage, per_key="3/minute")
    key_id = setting.decisions_key.split("_")[1]
    forged = f"kmk_{key_id}_{'A' * 43}"
    assert deciding.question(forged, offer_id, person).key_id == key_id
    questions = [deciding.question(forged, offer_id, person) for _ in range(10)]
    forged_answers = deciding.decide_many(engine, questions, limits=limits)
    assert {type(answer).__name__ for answer in forged_answers} == {"CredentialRefused"}
    answers = deciding.decide_many(
        engine,
        [deciding.question(setting.decisions_key, offer_id, person) for _ in range(4)],
        limits=limits,
    )
    assert [type(a).__name__ for a in answers] == ["Answer", "Answer", "Answer", "RateLimited"]
    # A genuine key refused for its offer still counts against the key.
    limits = _limits(storage, per_key="2/minute")
    unknown_offer = max(offer for offer, _ in setting.offers) + 1000

    def refused(offer: int) -> str:
        [answer] = deciding.decide_many(
            engine, [deciding.question(setting.decisions_key, offer, person)], limits=limits
        )
        return type(answer).__name__

    assert [refused(unknown_offer), refused(unknown_offer), refused(offer_id)] == [
        "OfferNotFound",
        "OfferNotFound",
        "RateLimited",
    ]


def test_bad_limits_are_refused_plainly() -> None:
    with pytest.raises(ConfigurationError, match="rate string"):
        PartnerLimits(LimitSettings(per_person="ten a minute"))
    with pytest.raises(ConfigurationError, match="storage"):
        PartnerLimits(LimitSettings(storage_uri="nosuch://here"))
    with pytest.raises(ConfigurationError, match="asynchronous"):
        PartnerLimits(LimitSettings(storage_uri="async+memory://"))


def test_retry_after_is_the_rest_of_the_window() -> None:
    """The counter's key is the one `limits` itself reads the window from: a limit per
    minute, reached at once, says to wait most of that minute, and counts nothing else."""
    limits = PartnerLimits(LimitSettings(per_person="2/minute"))
    for _ in range(2):
        limits.check_person(PARTNER, "S1", "decision")
    with pytest.raises(RateLimited) as stopped:
        limits.check_person(PARTNER, "S1", "decision")
    assert 55 <= stopped.value.retry_after <= 60
    assert stopped.value.headers() == {"Retry-After": str(stopped.value.retry_after)}
    limits.check_person(PARTNER, "S1", "report")  # another count
    limits.check_person(PARTNER, "S2", "decision")
    limits.reset()
    limits.check_person(PARTNER, "S1", "decision")


def test_counters_in_memory_expire_and_are_swept(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(in_process_counters.time, "time", lambda: clock[0])
    monkeypatch.setattr(in_process_counters, "SWEEP_EVERY", 4)
    counters = in_process_counters.InProcessCounters()
    assert [counters.incr("a", 10) for _ in range(3)] == [1, 2, 3]
    assert (counters.get("a"), counters.get_expiry("a")) == (3, 1010.0)
    clock[0] = 1010.0
    assert counters.get("a") == 0  # its window is over
    assert counters.incr("a", 10) == 1  # a new one starts (and the fourth increment sweeps)
    for key in ("k1", "k2", "k3"):
        counters.incr(key, 1)
    clock[0] = 2000.0
    counters.incr("b", 10)  # the fourth since the sweep: sweeps every expired counter
    assert counters.reset() == 1  # only "b" was left


def test_servers_sharing_a_redis_storage_share_their_counts() -> None:
    """`KAIMEN_RATE_LIMIT_STORAGE=redis://...`, as README says for several server processes:
    two processes' limits (here two instances) count as one, probing markers included."""
    _redis_or_skip()
    settings = LimitSettings(per_person="2/minute", probing="1/month", storage_uri=REDIS_URL)
    first, second = PartnerLimits(settings), PartnerLimits(settings)
    first.reset()
    try:
        first.check_person(PARTNER, "S1", "decision")
        second.check_person(PARTNER, "S1", "decision")
        with pytest.raises(RateLimited) as stopped:
            first.check_person(PARTNER, "S1", "decision")
        assert 55 <= stopped.value.retry_after <= 60
        second.check_person(PARTNER, "S2", "decision")  # another person, another count
        # A threshold asked through one server is known to the other.
        assert first.check_threshold(PARTNER, "S1", "600") is False
        assert second.check_threshold(PARTNER, "S1", "600") is False
        assert second.check_threshold(PARTNER, "S1", "620") is True  # probing: counted
        with pytest.raises(RateLimited):
            first.check_threshold(PARTNER, "S1", "640")
    finally:
        first.reset()


def test_counter_keys_are_the_librarys_own() -> None:
    """The counters' keys are written by kaimen, as `limits` writes them (its `key_for`): a
    storage shared with another `limits` user counts the same requests under the same keys."""
    limits = PartnerLimits(LimitSettings(per_key="5/second;9/hour", per_person="2/minute"))
    for key, item in limits._keyed(limits._per_key, "kaimen:key", "k1"):
        assert key == item.key_for("kaimen:key", "k1")
    for key, item in limits._keyed(limits._per_person, "kaimen:decision", "p", "S1"):
        assert key == item.key_for("kaimen:decision", "p", "S1")


def _outcome(counted: Counted) -> tuple[str, bool]:
    refusal = counted.refusal
    return ("stopped" if refusal is not None else "counted", counted.probing)


def test_counting_in_redis_is_counting_one_by_one() -> None:
    """The same random questions (three partners, four people, five thresholds, some
    without consent, some over a key's limit) counted one by one in memory and in batches of
    random sizes by Redis's script: the same outcome for each, in the same order, and the
    same Retry-After to the second."""
    _redis_or_skip()
    settings = {"per_key": "60/minute", "per_person": "5/minute;8/hour", "probing": "1/month"}
    memory = PartnerLimits(LimitSettings(**settings))
    shared = _limits("redis", **settings)
    draw = random.Random(7)
    one_by_one: list[tuple[str, bool]] = []
    batched: list[tuple[str, bool]] = []
    waits: list[tuple[int, int]] = []
    try:
        for _ in range(40):
            size = draw.randint(1, 12)
            asked = [
                DecisionAsked(
                    draw.choice(["k1", "k2", "k3"]),
                    draw.choice(["p1", "p2", "p3"]),
                    draw.choice(["S1", "S2", "S3", "S4", None]),
                    draw.choice([None, "600", "612", "624", "636", "648"]),
                )
                for _ in range(size)
            ]
            for question, counted in zip(asked, shared.count_decisions(asked), strict=True):
                [alone] = memory.count_decisions([question])
                one_by_one.append(_outcome(alone))
                batched.append(_outcome(counted))
                if alone.refusal and counted.refusal:
                    waits.append((alone.refusal.retry_after, counted.refusal.retry_after))
        assert batched == one_by_one
        # Every kind of outcome was met, so the comparison covered each of the script's ways.
        assert {
            ("counted", False),
            ("counted", True),
            ("stopped", False),
            ("stopped", True),
        } <= set(one_by_one)
        assert waits
        assert all(abs(first - second) <= 1 for first, second in waits)
    finally:
        shared.reset()


def test_a_batch_is_one_script_in_redis() -> None:
    """Sixteen decisions' counts are one call of the script, not about five round trips
    each (read from Redis's own command statistics)."""
    _redis_or_skip()
    import redis

    limits = _limits("redis")
    server = redis.Redis.from_url(REDIS_URL)

    def scripts_run() -> int:
        stats = server.info("commandstats")
        return sum(
            int(stats.get(name, {}).get("calls", 0)) for name in ("cmdstat_evalsha", "cmdstat_eval")
        )

    try:
        asked = [DecisionAsked("k1", "p1", f"S{n}", "600" if n % 2 else None) for n in range(16)]
        limits.count_decisions(asked)  # registers the script on its first call
        before = scripts_run()
        counted = limits.count_decisions(asked)
        assert scripts_run() - before == 1
        assert [c.refusal for c in counted] == [None] * 16
        # A report's key and person: one script too.
        before = scripts_run()
        limits.check_request("k1", "p1", "S1", "report")
        assert scripts_run() - before == 1
        # A batch whose every question was refused before counting asks Redis nothing.
        before = scripts_run()
        assert limits.count_decisions([]) == []
        assert scripts_run() == before
    finally:
        limits.reset()


@pytest.mark.parametrize("storage", STORAGES)
def test_a_report_stopped_by_its_key_is_not_counted_against_the_person(storage: str) -> None:
    limits = _limits(storage, per_key="1/minute", per_person="2/minute")
    try:
        limits.check_request("k1", PARTNER, "S1", "report")
        with pytest.raises(RateLimited, match="1 per 1 minute"):
            limits.check_request(
                "k1", PARTNER, "S1", "report"
            )  # the key's limit: the person's count stays 1
        limits.check_request(
            None, PARTNER, "S1", "report"
        )  # no key (the admin's door): the person's only
        with pytest.raises(RateLimited, match="2 per 1 minute"):
            limits.check_request(None, PARTNER, "S1", "report")
    finally:
        limits.reset()
