"""Group commit: every write waiting when the database is free goes in one transaction.

A durable commit costs an fsync (SQLite's synchronous=FULL, PostgreSQL's WAL flush), a few
hundred microseconds to milliseconds, far more than a write's statements; and a send holds its
chat's row lock until it commits, so one message per transaction is a convoy on a busy chat.
Here every write of both databases goes the same way:

    store.write(receipt, do_x, ...)       queued here as a job; a lone write on an idle server
                                          starts at once (nothing waits for a timer)
    run_group(conn, sql, jobs)            ONE transaction (the database's `write`: SQLite's one
                                          writer thread, or a PostgreSQL connection):
        do_x(tx, ...) per job             each in a SAVEPOINT, so a refusal undoes its job alone;
                                          batched writes (sends, new users) of the group run as
                                          ONE call (one statement on PostgreSQL)
        receipt recorded                  with the job's rendered reply, in its savepoint
        listing entries rewritten         for the chats the group named, created or changed
        changes.append(...)               the group's changes, last (the log's lock)
    COMMIT
    notifier.publish(topics, last_pos)    then each job's caller is answered: one wake-up

One group is in the database at a time on SQLite (its one writer), two on PostgreSQL (a group
of sends into other chats runs beside the one committing, on the other core: random-chat sends
+19 %, the rest unchanged, docs/benchmarks.md): the next is made of what queued meanwhile.
A group that fails as a whole on something other than a refusal (a database error) is run
again job by job, each in its own transaction, so only the faulty one fails; an outage
(Unavailable) or a commit cut off (OutcomeUnknown) is every job's answer, and nothing is run
again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa

from chatd import metrics
from chatd.core import clock, events
from chatd.core.errors import ChatdError, IdempotencyKeyInUse, OutcomeUnknown, Unavailable
from chatd.core.events import Change, Written
from chatd.core.idempotency import Receipt, Reply
from chatd.core.ports import Batched, Notifier
from chatd.storage import changes, chats
from chatd.storage.database import Database
from chatd.storage.dialects import Dialect
from chatd.storage.transaction import SqlTransaction

log = logging.getLogger("chatd.storage")
MAX_GROUP = 256  # bounds one transaction's size, and how long its first job waits for it

# What rewrites a chat's stored listing entry (storage/records.py): every write that creates,
# renames or changes the members of a chat logs one of these, addressed to the chat.
_LISTED = frozenset({events.CHAT_CREATED, events.CHAT_UPDATED})


class Job:
    __slots__ = ("args", "future", "kwargs", "receipt", "work")

    def __init__(
        self,
        receipt: Receipt | None,
        work: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        self.receipt = receipt if receipt is not None and receipt.wants_record() else None
        self.work = work
        self.args = args
        self.kwargs = kwargs
        self.future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def merges_with(self, other: Job) -> bool:
        """Whether the two run as one call of a batched write."""
        return (
            isinstance(self.work, Batched)
            and other.work is self.work
            and self.receipt is None
            and other.receipt is None
        )


class Answer(NamedTuple):
    job: Job
    result: Any
    error: BaseException | None
    reply: Reply | None


class Group(NamedTuple):
    answers: list[Answer]
    topics: set[str]
    last_pos: int | None


def run_group(conn: sa.Connection, sql: Dialect, jobs: Sequence[Job]) -> Group:
    """The jobs in the caller's transaction, as the module's docstring says. Raises what a lone
    job raises (the transaction is then rolled back whole), or any error that is not a refusal.
    """
    tx = SqlTransaction(conn, sql)
    segments = _segments(jobs)
    # One segment (a lone write, or sends merged into one call) needs no savepoint: what it
    # raises fails the group, whose jobs then run again one by one (GroupCommit._commit).
    # Two round trips fewer for a group of sends on PostgreSQL.
    guarded = len(segments) > 1
    answers: list[Answer] = []
    logged: list[Change] = []
    for segment in segments:
        if guarded:
            sql.execute(conn, "SAVEPOINT job")
        try:
            results = _run(tx, segment)
        except ChatdError as refused:
            if not guarded:
                raise
            sql.execute(conn, "ROLLBACK TO SAVEPOINT job")
            results = [(refused, None)] * len(segment)
        if guarded:
            sql.execute(conn, "RELEASE SAVEPOINT job")
        for job, (result, reply) in zip(segment, results, strict=True):
            if isinstance(result, Written):
                logged += result.changes
                answers.append(Answer(job, result.result, None, reply))
            else:
                answers.append(Answer(job, None, result, None))
    listed = {c.chat for c in logged if c.type in _LISTED and c.user is None and c.chat}
    if listed:
        chats.refresh_heads(conn, listed)
    last_pos = changes.append(conn, sql, logged, clock.now())
    return Group(answers, {c.topic for c in logged}, last_pos)


def _segments(jobs: Sequence[Job]) -> list[list[Job]]:
    """The jobs in order, consecutive batched jobs of the same write merged."""
    segments: list[list[Job]] = []
    for job in jobs:
        if segments and segments[-1][0].merges_with(job):
            segments[-1].append(job)
        else:
            segments.append([job])
    return segments


def _run(
    tx: SqlTransaction, segment: list[Job]
) -> list[tuple[Written[Any] | ChatdError, Reply | None]]:
    first = segment[0]
    if isinstance(first.work, Batched):
        done = first.work.run(tx, [job.args[0] for job in segment])
    else:
        done = [first.work(tx, *first.args, **first.kwargs)]
    if first.receipt is None:
        return [(result, None) for result in done]
    (result,) = done
    if isinstance(result, ChatdError):
        raise result  # refused: the request's reply is recorded later, on its own
    assert first.receipt.render is not None
    reply = first.receipt.render(result.result)
    if not tx.record_reply(first.receipt, reply):
        raise IdempotencyKeyInUse(first.receipt.key)  # rolls the job back
    return [(result, reply)]


class GroupCommit:
    def __init__(self, db: Database, notifier: Notifier | None, lanes: int | None = None) -> None:
        """`lanes`: how many groups may be in the database at once (default: the dialect's)."""
        self._db = db
        self._notifier = notifier
        self.lanes = lanes or db.sql.lanes
        self._waiting: list[Job] = []
        self._lanes: set[asyncio.Task[None]] = set()
        self.groups = 0  # for tests and the bench: how many transactions, for how many jobs
        self.jobs = 0

    async def submit(self, job: Job) -> Any:
        """Queues the job; its result once its group has committed (and been published)."""
        self._waiting.append(job)
        # A lane that has finished is dropped here, not by a done-callback: one runs a loop turn
        # after its task ends, and a job queued in that turn found every lane "running", and
        # waited for the next write to start one (seen as 15 s hangs during an outage).
        self._lanes = {lane for lane in self._lanes if not lane.done()}
        if len(self._lanes) < self.lanes:
            self._lanes.add(asyncio.create_task(self._drain()))
        # A caller who leaves does not undo its write: it is answered to nobody.
        return await asyncio.shield(job.future)

    async def close(self) -> None:
        """Waits for the writes already queued to be committed and answered."""
        while running := [lane for lane in self._lanes if not lane.done()]:
            await asyncio.shield(running[0])

    async def _drain(self) -> None:
        while self._waiting:
            jobs = self._waiting[:MAX_GROUP]
            del self._waiting[:MAX_GROUP]
            try:
                await self._commit(jobs)
            except Exception as exc:  # never leave a caller waiting
                log.exception("a group of %d writes failed", len(jobs))
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(exc)

    async def _commit(self, jobs: list[Job]) -> None:
        try:
            with metrics.write_in_flight(self._db.sql.name):
                group = await self._db.write(run_group, self._db.sql, jobs)
        except ChatdError as exc:
            if isinstance(exc, Unavailable | OutcomeUnknown) or len(jobs) == 1:
                # The database is away (logged there), or the commit was cut off and may have
                # happened, or a lone write was refused: every job hears so; none runs again.
                for job in jobs:
                    job.future.set_exception(exc)
                return
            await self._one_by_one(jobs)
            return
        except Exception:
            if len(jobs) == 1:
                raise
            log.warning(
                "a group of %d writes failed in the database: running them one by one",
                len(jobs),
                exc_info=True,
            )
            await self._one_by_one(jobs)
            return
        self.groups += 1
        self.jobs += len(jobs)
        metrics.group_committed(len(jobs))
        if group.last_pos is not None and self._notifier is not None:
            self._notifier.publish(group.topics, group.last_pos)
        for job, result, error, reply in group.answers:
            if job.receipt is not None and reply is not None:
                job.receipt.reply = reply
            if error is None:
                job.future.set_result(result)
            else:
                job.future.set_exception(error)

    async def _one_by_one(self, jobs: list[Job]) -> None:
        for job in jobs:
            try:
                await self._commit([job])
            except Exception as exc:
                log.exception("a write failed in the database")
                job.future.set_exception(exc)
