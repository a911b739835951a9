"""Decisions asked over HTTP, answered in batches on the event loop (a group commit).

Most of a decision's cost is not its own Python but what each transaction costs whatever it
holds: on SQLite the commit (writing the WAL), on PostgreSQL a statement's fixed cost in the
server and a round trip each way through the driver. So the questions that arrive while a
batch is being answered wait for the next batch and are answered together
(`deciding.decide_many`, `deciding.decide_many_async`): each still gets exactly its own
decision row and access-log row, or its own refusal, and consent is still checked in the
transaction that writes. A batch is as large as the load makes it: one question when they come
one at a time, a few dozen under load, so the answer to a lone question waits for nothing.

- SQLite: the batch runs right on the event loop while the write lock is free (a thread would
  add a hand-over of the interpreter lock each way for a fraction of a millisecond of work),
  else in a worker thread that waits its turn. Its commits leave the WAL to a checkpoint in a
  worker thread every `SQLITE_CHECKPOINT_EVERY` decisions, whose last pass holds the next
  batch back so that the WAL starts again from its beginning (`_checkpoint`).
- PostgreSQL: on a few async connections of the decisions' own, two statements a batch; while
  every connection is busy, new questions gather for the next batch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from anyio import CapacityLimiter, to_thread
from sqlalchemy import Engine

from kaimen.domain.errors import KaimenError, StoreUnavailable
from kaimen.sharing import deciding
from kaimen.sharing.rate_limits import PartnerLimits
from kaimen.store import decision_path
from kaimen.store.database import is_unreachable

if TYPE_CHECKING:
    from psycopg import AsyncConnection

_log = logging.getLogger(__name__)

# Questions answered together at most: a batch this size takes a few milliseconds, and the
# ones beyond it wait for the next.
MAX_BATCH = 64
# PostgreSQL connections of the decisions' own: one batch at the server on each, while the
# next gathers. Two: one batch's read overlaps another's write and its commit; more made
# batches smaller (about 4.6 questions with three, under 16 clients), and each batch costs a
# statement's fixed price twice in the server and in psycopg.
POSTGRES_CONNECTIONS = 2
# Turns of the event loop a flush waits for (see `DecisionBatches._after_turns`).
FLUSH_AFTER_TURNS = 3
# SQLite batches waiting for another connection's write lock, in worker threads, at most (one
# writer at a time: more would only wait).
SQLITE_WAITING_THREADS = 4
# Decisions committed on the event loop between two checkpoints of SQLite's WAL in a worker
# thread: at four or five pages a decision, about 36,000 pages (144 MB) of WAL, and the pass
# that holds the batches back comes for a 16-question batch in 8,000. Every checkpoint's
# passes slow the batches beside them: every 2,000 decisions (a checkpoint every half second
# under load) kaimen's p99 was 9.1-9.9 ms, every 8,000 it was 7.4-8.8 ms, the throughput the
# same (benchmarks/decisions_load.py, three runs each way, 2026-12-08).
SQLITE_CHECKPOINT_EVERY = 8000
# The checkpoint's passes beside the batches end when a pass copies fewer pages than this
# (each pass copies what the batches wrote during the one before, about a fifth of it), or
# after this many passes; then the last pass, with the batches held back.
SQLITE_CHECKPOINT_SETTLED_PAGES = 100
SQLITE_CHECKPOINT_PASSES = 6

_Pending = tuple[decision_path.Question, "asyncio.Future[deciding.Answer]"]


class DecisionBatches:
    """The API's decisions for one engine in one event loop (see the module docstring)."""

    def __init__(self, engine: Engine, limits: PartnerLimits | None = None) -> None:
        self._engine = engine
        self._limits = limits
        self._pending: list[_Pending] = []
        self._flush_scheduled = False
        self._postgres = (
            decision_path.PostgresDecisionConnections(engine.url, POSTGRES_CONNECTIONS)
            if engine.dialect.name == "postgresql"
            else None
        )
        self._on_postgres_now = 0  # batches at the server (at most one per connection)
        self._waiting = CapacityLimiter(SQLITE_WAITING_THREADS)
        self._tasks: set[asyncio.Task[None]] = set()
        self._uncheckpointed = 0
        self._checkpointing = False
        self._writes_held = False  # the checkpoint's last pass is running

    async def decide(self, api_key: str, offer_id: int, person_id: str) -> deciding.Answer:
        """`deciding.decide`, answered with whatever else is asked meanwhile."""
        asked = deciding.question(api_key, offer_id, person_id)
        answer: asyncio.Future[deciding.Answer] = asyncio.get_running_loop().create_future()
        self._pending.append((asked, answer))
        self._schedule()
        return await answer

    def _schedule(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._after_turns, FLUSH_AFTER_TURNS)

    def _after_turns(self, turns: int) -> None:
        """The flush, `turns` turns of the event loop from now: a turn reads what the clients
        sent (uvicorn starts a task per request), the next runs those tasks up to their
        question, so the batch holds the questions that were on their way too."""
        if turns > 1:
            asyncio.get_running_loop().call_soon(self._after_turns, turns - 1)
        else:
            self._flush()

    def close(self) -> None:
        """Close the PostgreSQL connections that are idle."""
        if self._postgres is not None:
            self._postgres.close()

    def _flush(self) -> None:
        self._flush_scheduled = False
        while self._pending:
            if self._postgres is not None and self._on_postgres_now >= self._postgres.size:
                return  # the batch that frees a connection flushes again
            if self._writes_held:
                return  # the checkpoint flushes again when it is done
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            batch = [(asked, answer) for asked, answer in batch if not answer.cancelled()]
            if not batch:
                continue
            if self._postgres is not None:
                self._on_postgres_now += 1
                self._start(self._on_postgres(batch))
                continue
            try:
                results = deciding.decide_many(
                    self._engine, [a for a, _ in batch], False, self._limits
                )
            except deciding.WriterBusy:
                self._start(self._in_thread(batch))
                continue
            except Exception as error:  # every asker hears of it
                _settle(batch, error)
                continue
            _settle(batch, results)
            self._uncheckpointed += len(batch)
            if self._uncheckpointed >= SQLITE_CHECKPOINT_EVERY and not self._checkpointing:
                self._start(self._checkpoint())

    def _start(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)  # held, or the loop may drop it midway
        task.add_done_callback(self._tasks.discard)

    async def _checkpoint(self) -> None:
        """Copy the WAL back into the database file, so that the next commit writes the WAL
        from its start again. SQLite starts the WAL again only when a commit finds every page
        in it copied, which never happens while commits follow each other faster than a
        checkpoint copies: under steady load the WAL grew without end (a gigabyte in 15 s of
        `benchmarks/decisions_load.py`), and every read and commit searched a longer WAL
        index (the commit's CPU went from 0.2 to 0.9 ms a batch). So the passes copy while
        the batches go on, each what the one before left, until little is left; the last
        copies that while the batches wait (a millisecond or two, against 15-25 ms for the
        first pass)."""
        self._checkpointing, self._uncheckpointed = True, 0
        try:
            copied = await to_thread.run_sync(decision_path.checkpoint, self._engine)
            for _ in range(SQLITE_CHECKPOINT_PASSES - 2):
                now = await to_thread.run_sync(decision_path.checkpoint, self._engine)
                settled = now - copied < SQLITE_CHECKPOINT_SETTLED_PAGES
                copied = now
                if settled:
                    break
            self._writes_held = True
            await to_thread.run_sync(decision_path.checkpoint, self._engine)
        except Exception:  # the next commit that checkpoints itself does it then
            _log.warning("checkpoint of the decisions' WAL failed", exc_info=True)
        finally:
            self._checkpointing = self._writes_held = False
            if self._pending:
                self._schedule()

    async def _in_thread(self, batch: list[_Pending]) -> None:
        questions = [asked for asked, _ in batch]
        try:
            results = await to_thread.run_sync(
                deciding.decide_many,
                self._engine,
                questions,
                True,
                self._limits,
                limiter=self._waiting,
            )
        except Exception as error:  # every asker hears of it
            _settle(batch, error)
            return
        _settle(batch, results)

    async def _on_postgres(self, batch: list[_Pending]) -> None:
        assert self._postgres is not None
        connection: AsyncConnection | None = None
        try:
            connection = await self._postgres.acquire()
            results = await deciding.decide_many_async(
                connection, [a for a, _ in batch], self._limits
            )
        except Exception as error:  # every asker hears of it
            _settle(batch, error)
        else:
            _settle(batch, results)
        finally:
            self._on_postgres_now -= 1
            if connection is not None:
                self._postgres.release(connection)
            if self._pending:
                self._schedule()


def _settle(
    batch: list[_Pending], results: list[deciding.Answer | KaimenError] | Exception
) -> None:
    """Each asker's answer or refusal; or the same unexpected error for all of them (a store
    that cannot be reached is a refusal: `StoreUnavailable`, answered 503)."""
    if isinstance(results, Exception) and is_unreachable(results):
        _log.warning("decisions: the store is unreachable", extra={"error": type(results).__name__})
        results = StoreUnavailable()
    for index, (_, answer) in enumerate(batch):
        if answer.done():
            continue
        result = results if isinstance(results, Exception) else results[index]
        if isinstance(result, Exception):
            answer.set_exception(result)
        else:
            answer.set_result(result)


# One per event loop and engine: a server has one loop for its life, a test client may run
# each request in a loop of its own (asyncio objects and async connections belong to one loop).
_BATCHES: dict[asyncio.AbstractEventLoop, dict[Engine, DecisionBatches]] = {}


def batches_for(engine: Engine, limits: PartnerLimits | None = None) -> DecisionBatches:
    """The batches of `engine` in the running event loop, counting against `limits` (those
    of the first call for the engine in this loop). When a loop asks for the first time,
    those of loops that have closed since close their connections and are dropped."""
    loop = asyncio.get_running_loop()
    by_engine = _BATCHES.get(loop)
    if by_engine is None:
        for old_loop in [old for old in _BATCHES if old.is_closed()]:
            for old in _BATCHES.pop(old_loop).values():
                old.close()
        by_engine = _BATCHES[loop] = {}
    batches = by_engine.get(engine)
    if batches is None:
        batches = by_engine[engine] = DecisionBatches(engine, limits)
    return batches
