"""Group commit for SQLite: the one writer thread commits every write waiting for it at once.

A durable commit costs an fsync (synchronous=FULL), a few hundred microseconds to milliseconds,
far more than a write's statements. The writer thread takes every job queued while it was busy,
runs each in a SAVEPOINT of one transaction, commits once, and only then answers each job: every
acknowledged write is durable, one failing job (its savepoint rolled back) never fails the
others, and a lone write on an idle server commits at once (nothing waits for a timer).

A group is answered with one wake-up of the event loop, not one per job: concurrent futures
wrapped for asyncio cost a lock, a condition and a self-pipe write each, ~12% of the server's
CPU under a send load (py-spy).

When the storage refuses (disk full, files read-only, an I/O error) the group is rolled back
whole (SQLite may already have rolled it back itself) and every job is answered with the error
`unavailable` makes of it (503, logged once in a while by the caller); the writer goes on, and
the first group after the storage is back commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa

from chatd.storage.sqlite_hot import driver

log = logging.getLogger("chatd.storage")
T = TypeVar("T")
MAX_BATCH = 256  # bounds one transaction's size, and how long its first job waits for it

_STOP = object()

# Primary result codes that say the storage refuses, whatever the statement: the file system
# is full, the files or the file system are read-only, an I/O error, a file that cannot be
# opened, the write lock still held by another process after busy_timeout.
_STORAGE_FAULTS = frozenset(
    {
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_BUSY,
    }
)


def storage_fault(exc: BaseException) -> bool:
    """Whether `exc` (sqlite3's, or SQLAlchemy's wrapping of it) says the storage refuses, not
    that anything is wrong with the statement."""
    error = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
    code = getattr(error, "sqlite_errorcode", None)
    return isinstance(error, sqlite3.Error) and code is not None and code & 0xFF in _STORAGE_FAULTS


class _Job:
    __slots__ = ("args", "future", "kwargs", "loop", "work")

    def __init__(self, work: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]):
        self.work = work
        self.args = args
        self.kwargs = kwargs
        self.loop = asyncio.get_running_loop()
        self.future: asyncio.Future[Any] = self.loop.create_future()


Outcome = tuple[_Job, Any, BaseException | None]


def _settle(outcomes: list[Outcome]) -> None:
    """On the event loop: answers the jobs of one group (those whose caller still waits)."""
    for job, result, error in outcomes:
        if job.future.cancelled():
            continue
        if error is None:
            job.future.set_result(result)
        else:
            job.future.set_exception(error)


class GroupCommitWriter:
    def __init__(
        self, engine: sa.Engine, unavailable: Callable[[Exception], Exception] = lambda e: e
    ) -> None:
        """`unavailable` makes the error each job of a group gets when the storage refuses it
        (called once per job, on this thread)."""
        self._engine = engine
        self._unavailable = unavailable
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="chatd-sqlite-writer", daemon=True)
        self._thread.start()
        self.batches = 0  # for tests and the bench: how many commits, for how many jobs
        self.jobs = 0

    async def submit(self, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Runs `work(conn, *args, **kwargs)` in the next group's transaction; returns once that
        transaction has committed."""
        job = _Job(work, args, kwargs)
        self._jobs.put(job)
        result: T = await job.future
        return result

    def close(self) -> None:
        self._jobs.put(_STOP)
        self._thread.join()

    def _run(self) -> None:
        while True:
            first = self._jobs.get()
            if first is _STOP:
                return
            batch = [first]
            stop = False
            while len(batch) < MAX_BATCH:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is _STOP:
                    stop = True
                    break
                batch.append(job)
            # A job whose caller gave up before it started is dropped (reading a future's state
            # from this thread is a plain attribute read); the rest run and commit whatever
            # their callers do next.
            self._commit([job for job in batch if not job.future.cancelled()])
            if stop:
                return

    def _commit(self, batch: list[_Job]) -> None:
        if not batch:
            return
        try:
            outcomes = self._group(batch)
        except Exception as exc:  # the group, or its commit, failed: nothing of it is durable
            if storage_fault(exc):
                outcomes = [(job, None, self._unavailable(exc)) for job in batch]
            else:
                log.exception("a group commit of %d writes failed", len(batch))
                outcomes = [(job, None, exc) for job in batch]
        else:
            self.batches += 1
            self.jobs += len(batch)
        loops: dict[asyncio.AbstractEventLoop, list[Outcome]] = {}
        for outcome in outcomes:
            loops.setdefault(outcome[0].loop, []).append(outcome)
        for loop, answered in loops.items():
            # A closed loop raises RuntimeError: nobody is left there to answer.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, answered)

    def _group(self, batch: list[_Job]) -> list[Outcome]:
        """Runs the jobs in one transaction, each in its savepoint, and commits; a failed commit
        (or a storage fault in a job) rolls the transaction back as it leaves."""
        outcomes: list[Outcome] = []
        with self._engine.begin() as conn:
            db = driver(conn)
            for job in batch:
                # On the driver: SQLAlchemy's savepoints cost more than the writes here.
                db.execute("SAVEPOINT job")
                try:
                    outcomes.append((job, job.work(conn, *job.args, **job.kwargs), None))
                except Exception as exc:
                    if storage_fault(exc):
                        raise  # the whole group: SQLite may have rolled it back already
                    db.execute("ROLLBACK TO job")  # this job's writes, not the others'
                    outcomes.append((job, None, exc))
                db.execute("RELEASE job")
        return outcomes
