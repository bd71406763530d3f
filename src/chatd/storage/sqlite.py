"""SQLite in process: reads inline on the event loop, write transactions on one writer thread
(the group commit, storage/groupcommit.py, hands it one group at a time). See
storage/database.py for why.

When the storage refuses (disk full, files read-only, an I/O error) the transaction is rolled
back whole (SQLite may already have rolled it back itself) and answered with Unavailable (503,
logged once in a while); the writer goes on, and the first transaction after the storage is
back commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy import event, pool

from chatd.storage.database import (
    BOUNDED_AT_ONCE,
    BOUNDED_SECONDS,
    Outages,
    Statement,
    TooCostly,
    Turns,
    Work,
    ensure_sqlite_directory,
)
from chatd.storage.dialects import SQLITE, Dialect

P = ParamSpec("P")
T = TypeVar("T")

PROGRESS_STEPS = 10_000  # SQLite's virtual machine steps between looks at a bounded read's clock


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


class SqliteDatabase:
    sql: Dialect = SQLITE

    def __init__(self, url: sa.URL, synchronous: str) -> None:
        ensure_sqlite_directory(url)
        common = (
            # First: a later pragma may wait on the writer's lock, and must not fail at once.
            "PRAGMA busy_timeout=10000",
            f"PRAGMA synchronous={synchronous}",
            "PRAGMA foreign_keys=ON",
        )

        def engine(begin: str, *pragmas: str, size: int = 1) -> sa.Engine:
            def on_connect(dbapi_connection: Any, _record: Any) -> None:
                # The driver's implicit transactions are off: we say BEGIN ourselves (below).
                dbapi_connection.isolation_level = None
                for pragma in (*common, *pragmas):
                    dbapi_connection.execute(pragma)

            created = sa.create_engine(
                url,
                poolclass=pool.QueuePool,
                pool_size=size,
                max_overflow=0,
                connect_args={"check_same_thread": False},
            )
            event.listen(created, "connect", on_connect)
            event.listen(created, "begin", lambda conn: conn.exec_driver_sql(begin))
            return created

        # A deferred BEGIN gives a read one snapshot; IMMEDIATE takes the write lock up front.
        # Only the writer sets WAL (it stays set in the file): on a reader, `journal_mode` can
        # answer SQLITE_BUSY at once, without waiting, while the writer commits a group.
        self._reader = engine("BEGIN")
        self._writer = engine("BEGIN IMMEDIATE", "PRAGMA journal_mode=WAL")
        self._writer.connect().close()  # WAL before the first read
        # Bounded reads (searches) run on threads of their own, off the event loop: sqlite3
        # lets go of the GIL while SQLite works, so the loop serves meanwhile.
        self._aside = engine("BEGIN", size=BOUNDED_AT_ONCE)
        self._turns = Turns()
        self._read_conn: sa.Connection | None = None
        self._statements: dict[sa.Select[Any], Statement] = {}
        self._outages = Outages()
        self.writer = Writer(
            self._writer, lambda exc: self._outages.unavailable(exc, "cannot be written")
        )

    async def scalar(self, query: sa.Select[Any], params: Mapping[str, Any]) -> Any:
        statement = self._statements.get(query)
        if statement is None:
            statement = self._statements[query] = Statement.of(query, self._reader.dialect)
        if self._read_conn is None:
            self._read_conn = self._reader.connect()
        # Between reads the connection holds no transaction (read() rolls back), and the
        # driver is in autocommit: the statement is its own snapshot.
        driver = self._read_conn.connection.driver_connection
        assert driver is not None
        try:
            row = driver.execute(statement.sql, statement.args(params)).fetchone()
        except sqlite3.Error as exc:
            self._unreadable(exc)
            raise
        return None if row is None else row[0]

    async def read(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        # Inline and without awaits inside: no other coroutine can use the connection meanwhile.
        if self._read_conn is None:
            self._read_conn = self._reader.connect()
        conn = self._read_conn
        try:
            return work(conn, *args, **kwargs)
        except (sqlite3.Error, sa.exc.DBAPIError) as exc:
            self._unreadable(exc)
            raise
        finally:
            conn.rollback()

    async def read_bounded(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        async with self._turns.turn():
            return await asyncio.to_thread(lambda: self._read_aside(work, *args, **kwargs))

    def _read_aside(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        deadline = time.monotonic() + BOUNDED_SECONDS
        with self._aside.connect() as conn:
            driver = conn.connection.driver_connection
            assert driver is not None
            # A non-zero answer makes SQLite stop the statement ("interrupted").
            driver.set_progress_handler(lambda: time.monotonic() > deadline, PROGRESS_STEPS)
            try:
                return work(conn, *args, **kwargs)
            except (sqlite3.Error, sa.exc.DBAPIError) as exc:
                if time.monotonic() > deadline:
                    raise TooCostly from exc
                self._unreadable(exc)
                raise
            finally:
                driver.set_progress_handler(None, 0)
                conn.rollback()

    def _unreadable(self, exc: Exception) -> None:
        # A read that fails on the storage (an I/O error): 503 as a write's would be.
        if storage_fault(exc):
            raise self._outages.unavailable(exc, "cannot be read") from exc

    async def write(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        result = await self.writer.submit(work, *args, **kwargs)
        self._outages.over()
        return result

    async def dispose(self) -> None:
        if self._read_conn is not None:
            self._read_conn.close()
        self._aside.dispose()
        self.writer.close()
        self._reader.dispose()
        self._writer.dispose()


_STOP = object()


class Writer:
    """The one thread that runs write transactions, one at a time, off the event loop (their
    fsync never blocks it). A transaction's caller is answered with one wake-up of its loop."""

    def __init__(
        self, engine: sa.Engine, unavailable: Callable[[Exception], Exception] = lambda e: e
    ) -> None:
        """`unavailable` makes the error a transaction gets when the storage refuses it."""
        self._engine = engine
        self._unavailable = unavailable
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="chatd-sqlite-writer", daemon=True)
        self._thread.start()

    async def submit(self, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Runs `work(conn, *args, **kwargs)` in a transaction; returns once it has committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((loop, future, work, args, kwargs))
        return await future

    def close(self) -> None:
        self._jobs.put(_STOP)
        self._thread.join()

    def _run(self) -> None:
        while (job := self._jobs.get()) is not _STOP:
            loop, future, work, args, kwargs = job
            result: Any = None
            error: BaseException | None = None
            try:
                with self._engine.begin() as conn:  # commits, or rolls back as it leaves
                    result = work(conn, *args, **kwargs)
            except Exception as exc:
                error = self._unavailable(exc) if storage_fault(exc) else exc
            # A closed loop raises RuntimeError: nobody is left there to answer.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, future, result, error)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)
