"""Group commit for SQLite: the one writer thread commits every write waiting for it at once.

A durable commit costs an fsync (synchronous=FULL), a few hundred microseconds to milliseconds,
far more than a write's statements. The writer thread takes every job queued while it was busy,
runs each in a SAVEPOINT of one transaction, commits once, and only then answers each job: every
acknowledged write is durable, one failing job (its savepoint rolled back) never fails the
others, and a lone write on an idle server commits at once (nothing waits for a timer).

A group is answered with one wake-up of the event loop, not one per job: concurrent futures
wrapped for asyncio cost a lock, a condition and a self-pipe write each, ~12% of the server's
CPU under a send load (py-spy).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa

from chatd.storage.sqlite_hot import driver

log = logging.getLogger("chatd.storage")
T = TypeVar("T")
MAX_BATCH = 256  # bounds one transaction's size, and how long its first job waits for it

_STOP = object()


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
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
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
        outcomes: list[Outcome] = []
        try:
            with self._engine.begin() as conn:
                db = driver(conn)
                for job in batch:
                    # On the driver: SQLAlchemy's savepoints cost more than the writes here.
                    db.execute("SAVEPOINT job")
                    try:
                        outcomes.append((job, job.work(conn, *job.args, **job.kwargs), None))
                    except Exception as exc:  # this job's savepoint is rolled back, not the rest
                        db.execute("ROLLBACK TO job")
                        outcomes.append((job, None, exc))
                    db.execute("RELEASE job")
        except Exception as exc:  # the commit itself failed: nothing of the batch is durable
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
