"""Where SQL runs: SQLite in-process, or PostgreSQL over asyncpg, behind one small interface.

The store writes its queries as plain synchronous functions of a SQLAlchemy `Connection`; a
`Database` decides how to run them:

- SQLite: reads run inline on the event loop (an indexed read takes ~0.1 ms of C; handing it
  to a thread costs more than that), and writes run on one dedicated writer thread, because
  SQLite has one writer at a time anyway: writes queue there instead of spinning on
  SQLITE_BUSY, their fsync never blocks the event loop, and the writes waiting together share
  one transaction and one fsync (storage/groupcommit.py).
- PostgreSQL: the same functions run through `run_sync` over asyncpg, reads in autocommit (no
  BEGIN/ROLLBACK round trips), writes in a transaction, from a bounded pool. A write that loses
  a deadlock or a serialization conflict is run again (it was rolled back whole): the client
  never sees a fault that the database resolved by picking a loser.

When the database cannot serve (PostgreSQL stopped or not answering; SQLite's disk full, its
files read-only, an I/O error), a request is answered at once with Unavailable (503 with
Retry-After) and the outage is told in one log line every 10 s, never a traceback a request.

The hot reads, one statement whose answer is one value (the Avito listings, which the database
builds as JSON), skip SQLAlchemy's execution: `scalar` runs the query, compiled once, on the
driver itself. Profiled under load, SQLAlchemy's per-execution work (cache lookup, parameter
processing, result wrapping, the connection's begin and rollback) cost ~80 µs a request on
SQLite, about as much as the rest of the HTTP path.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sqlite3
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

import asyncpg
import sqlalchemy as sa
from sqlalchemy import event, pool
from sqlalchemy.ext.asyncio import create_async_engine

from chatd.config import Settings
from chatd.core.errors import OutcomeUnknown, Unavailable
from chatd.storage.groupcommit import GroupCommitWriter, storage_fault

P = ParamSpec("P")
T = TypeVar("T")
Work = Callable[Concatenate[sa.Connection, P], T]

log = logging.getLogger("chatd.storage")

# deadlock_detected and serialization_failure: PostgreSQL rolled the transaction back whole.
RETRIED_SQLSTATES = frozenset({"40P01", "40001"})
ATTEMPTS = 5
# A connect waits this long at most (asyncpg's own default is 60 s): a database host that stops
# answering is answered 503 within two attempts, not waited on by every request.
CONNECT_TIMEOUT = 2.0  # seconds
POOL_TIMEOUT = 30.0  # seconds a request waits for a free connection before it gets 503
# After the database could not be reached, requests get 503 at once for this long instead of
# each trying again (and queueing for connections that cannot be made).
UNREACHABLE_FOR = 1.0  # seconds: Retry-After's value
UNAVAILABLE_LOG_EVERY = 10.0  # seconds


class UnsupportedDatabase(ValueError):
    pass


def driver_url(database_url: str, *, asynchronous: bool) -> sa.URL:
    """The SQLAlchemy URL with our driver for a user-facing `sqlite:` / `postgresql:` URL."""
    url = sa.make_url(database_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        return url.set(drivername="sqlite+pysqlite")
    if backend in ("postgresql", "postgres"):
        return url.set(drivername="postgresql+asyncpg" if asynchronous else "postgresql")
    raise UnsupportedDatabase(
        f"unsupported database URL scheme {url.drivername!r}: use sqlite:/// or postgresql://"
    )


def ensure_sqlite_directory(url: sa.URL) -> None:
    """SQLite creates the file but not its directory (`./data/` on a first start)."""
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)


@dataclass(frozen=True)
class Statement:
    """A query compiled once for one driver: its SQL, and the order of its parameters."""

    sql: str
    names: tuple[str, ...]
    fixed: Mapping[str, Any]  # the values compiled into the query (labels, formats)

    @classmethod
    def of(cls, query: sa.Select[Any], dialect: sa.Dialect) -> Statement:
        compiled = query.compile(dialect=dialect)
        fixed = {name: bind.value for name, bind in compiled.binds.items()}
        return cls(str(compiled), tuple(compiled.positiontup or ()), fixed)

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        return [params[name] if name in params else self.fixed[name] for name in self.names]


class Database(Protocol):
    dialect: str

    async def scalar(self, query: sa.Select[Any], params: Mapping[str, Any]) -> Any:
        """The first column of the first row of one read-only statement (None if no row), run
        on the driver itself: for hot reads of one value. `query` must be a long-lived object
        (its compiled form is kept by identity)."""
        ...

    async def read(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Runs `work` on a connection that sees one consistent snapshot."""
        ...

    async def write(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Runs `work` in one transaction, committed durably before this returns."""
        ...

    async def dispose(self) -> None: ...


def open_database(settings: Settings) -> Database:
    url = driver_url(settings.database_url, asynchronous=True)
    if url.get_backend_name() == "sqlite":
        return SqliteDatabase(url, settings.sqlite_synchronous)
    return PostgresDatabase(url, settings.db_pool_size)


class Outages:
    """Turns a failure of the database itself into Unavailable, telling it in one log line now
    and then (not a traceback per request) while it lasts, and in one line when it is over."""

    def __init__(self) -> None:
        self._warned_at = -UNAVAILABLE_LOG_EVERY
        self._down = False

    def unavailable(self, exc: BaseException, what: str) -> Unavailable:
        now = time.monotonic()
        if now - self._warned_at >= UNAVAILABLE_LOG_EVERY:
            self._warned_at = now
            cause = exc.__cause__ or exc
            if isinstance(cause, sa.exc.DBAPIError) and cause.orig is not None:
                cause = cause.orig
            log.warning("the database %s (answering 503): %s", what, cause)
        self._down = True
        error = Unavailable()
        error.__cause__ = exc
        return error

    def over(self) -> None:
        if self._down:
            self._down = False
            log.info("the database serves again")


class SqliteDatabase:
    dialect = "sqlite"

    def __init__(self, url: sa.URL, synchronous: str) -> None:
        ensure_sqlite_directory(url)
        common = (
            # First: a later pragma may wait on the writer's lock, and must not fail at once.
            "PRAGMA busy_timeout=10000",
            f"PRAGMA synchronous={synchronous}",
            "PRAGMA foreign_keys=ON",
        )

        def engine(begin: str, *pragmas: str) -> sa.Engine:
            def on_connect(dbapi_connection: Any, _record: Any) -> None:
                # The driver's implicit transactions are off: we say BEGIN ourselves (below).
                dbapi_connection.isolation_level = None
                for pragma in (*common, *pragmas):
                    dbapi_connection.execute(pragma)

            created = sa.create_engine(
                url,
                poolclass=pool.QueuePool,
                pool_size=1,
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
        self._read_conn: sa.Connection | None = None
        self._statements: dict[sa.Select[Any], Statement] = {}
        self._outages = Outages()
        self.writer = GroupCommitWriter(
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
        self.writer.close()
        self._reader.dispose()
        self._writer.dispose()


class PostgresDatabase:
    dialect = "postgresql"

    def __init__(self, url: sa.URL, pool_size: int) -> None:
        # Bounded on purpose: connections beyond a few per core only queue on row locks.
        self._engine = create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=0,
            pool_timeout=POOL_TIMEOUT,
            connect_args={"timeout": CONNECT_TIMEOUT},
        )
        # Requests queue for a connection here, never in SQLAlchemy's pool: its waiters are
        # woken only by a connection coming back, so while connecting fails they sat out the
        # whole pool_timeout (and then got a 500) with the pool empty.
        self._slots = asyncio.Semaphore(pool_size)
        # Reads are single statements: autocommit spares them BEGIN and ROLLBACK round trips.
        self._autocommit = self._engine.execution_options(isolation_level="AUTOCOMMIT")
        self._statements: dict[sa.Select[Any], Statement] = {}
        self._outages = Outages()
        self._unreachable_until = 0.0
        self._unreachable: BaseException | None = None
        self._forgot_at = -1.0

    async def scalar(self, query: sa.Select[Any], params: Mapping[str, Any]) -> Any:
        statement = self._statements.get(query)
        if statement is None:
            statement = self._statements[query] = Statement.of(query, self._engine.dialect)

        async def attempt() -> Any:
            async with self._autocommit.connect() as conn:
                raw = await conn.get_raw_connection()
                # asyncpg prepares the statement once per connection and keeps it.
                driver: Any = raw.driver_connection
                return await driver.fetchval(statement.sql, *statement.args(params))

        return await self._reconnecting(attempt)

    async def read(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        async def attempt() -> T:
            async with self._autocommit.connect() as conn:
                return await conn.run_sync(work, *args, **kwargs)

        return await self._reconnecting(attempt)

    async def write(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        async def transaction() -> T:
            conn = self._engine.connect()
            try:
                await conn.start()
            except Exception as exc:
                if _lost_connection(exc):
                    raise _LostBeforeCommit from exc
                raise
            try:
                try:
                    await conn.begin()
                    result = await conn.run_sync(work, *args, **kwargs)
                except Exception as exc:
                    # Lost before COMMIT was sent: the database rolled it back, it may run again.
                    if _lost_connection(exc):
                        raise _LostBeforeCommit from exc
                    raise
                try:
                    await conn.commit()
                except Exception as exc:
                    # Lost during COMMIT: it may have committed. Never run again, never "nothing
                    # was changed".
                    if _lost_connection(exc):
                        raise OutcomeUnknown from exc
                    raise
                return result
            finally:
                await conn.close()  # rolls back what was not committed

        return await self._reconnecting(
            lambda: _retried(transaction), retry=lambda exc: isinstance(exc, _LostBeforeCommit)
        )

    async def _reconnecting(
        self,
        attempt: Callable[[], Awaitable[T]],
        retry: Callable[[BaseException], bool] | None = None,
    ) -> T:
        """Runs `attempt` on one of the pool's connections, and once more on fresh connections
        if the database connection was lost (a restart leaves every pooled connection dead).
        Raises Unavailable when the database still cannot be reached, or has just not been, or
        no connection is free for POOL_TIMEOUT."""
        self._fail_fast()
        if self._slots.locked():
            try:
                async with asyncio.timeout(POOL_TIMEOUT):
                    await self._slots.acquire()
            except TimeoutError as exc:
                what = f"has had no free connection for {POOL_TIMEOUT:.0f} s"
                raise self._outages.unavailable(exc, what) from exc
        else:
            await self._slots.acquire()
        try:
            self._fail_fast()  # it may have been found unreachable while this one queued
            return await self._twice(attempt, retry or _lost_connection)
        finally:
            self._slots.release()

    async def _twice(
        self, attempt: Callable[[], Awaitable[T]], retry: Callable[[BaseException], bool]
    ) -> T:
        for tries in (1, 2):
            try:
                result = await attempt()
            except Exception as exc:
                if not retry(exc):
                    raise
                self._forget_connections(exc)
                if tries == 2:
                    self._unreachable = exc
                    self._unreachable_until = time.monotonic() + UNREACHABLE_FOR
                    raise self._outages.unavailable(exc, "cannot be reached") from exc
            else:
                self._outages.over()
                return result
        raise AssertionError("unreachable")

    def _forget_connections(self, exc: BaseException) -> None:
        """After a restart every pooled connection is dead: forget them all at once, not one
        failed request at a time. SQLAlchemy does so itself for the errors it sees; the hot
        reads that run on the driver (`scalar`) need it done here, at most once a second (the
        old pool's connections are dropped without a goodbye: a dead or frozen server would
        not answer one)."""
        cause = exc.__cause__ if isinstance(exc, _LostBeforeCommit) else exc
        if isinstance(cause, sa.exc.DBAPIError) and cause.connection_invalidated:
            return
        now = time.monotonic()
        if now - self._forgot_at >= 1.0:
            self._forgot_at = now
            self._engine.sync_engine.dispose(close=False)

    def _fail_fast(self) -> None:
        if self._unreachable is not None and time.monotonic() < self._unreachable_until:
            raise self._outages.unavailable(self._unreachable, "cannot be reached")

    async def dispose(self) -> None:
        await self._engine.dispose()


class _LostBeforeCommit(Exception):
    pass


def _lost_connection(exc: BaseException) -> bool:
    """Whether `exc` says the connection to PostgreSQL was lost or could not be made (a restart,
    an outage), rather than anything about the statement."""
    if isinstance(exc, _LostBeforeCommit):
        return True
    if isinstance(exc, sa.exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        exc = exc.orig if exc.orig is not None else exc
    # 08: connection exceptions; 57P0x: the server shuts down or is starting up.
    sqlstate = str(getattr(exc, "sqlstate", None) or "")
    if sqlstate.startswith(("08", "57P0")):
        return True
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    return any(_closed(error) for error in (exc, cause))


def _closed(error: BaseException) -> bool:
    # An InterfaceError is also asyncpg's answer to a misuse ("another operation is in
    # progress"): only the closed-connection ones mean the connection is gone.
    if isinstance(error, OSError | asyncpg.ConnectionDoesNotExistError):
        return True
    return isinstance(error, asyncpg.InterfaceError) and "closed" in str(error)


async def _retried(attempt: Callable[[], Awaitable[T]]) -> T:
    for tries in range(1, ATTEMPTS + 1):
        try:
            return await attempt()
        except sa.exc.DBAPIError as exc:
            sqlstate = getattr(exc.orig, "sqlstate", None)
            if sqlstate not in RETRIED_SQLSTATES or tries == ATTEMPTS:
                raise
            log.info("retrying a write rolled back by PostgreSQL (SQLSTATE %s)", sqlstate)
            # A little jitter, growing, so the two losers of a deadlock do not meet again.
            await asyncio.sleep(random.uniform(0, 0.005 * tries))
    raise AssertionError("unreachable")
