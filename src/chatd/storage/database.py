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
from chatd.core.errors import Unavailable
from chatd.storage.groupcommit import GroupCommitWriter

P = ParamSpec("P")
T = TypeVar("T")
Work = Callable[Concatenate[sa.Connection, P], T]

log = logging.getLogger("chatd.storage")

# deadlock_detected and serialization_failure: PostgreSQL rolled the transaction back whole.
RETRIED_SQLSTATES = frozenset({"40P01", "40001"})
ATTEMPTS = 5


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
        self.writer = GroupCommitWriter(self._writer)

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
        row = driver.execute(statement.sql, statement.args(params)).fetchone()
        return None if row is None else row[0]

    async def read(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        # Inline and without awaits inside: no other coroutine can use the connection meanwhile.
        if self._read_conn is None:
            self._read_conn = self._reader.connect()
        conn = self._read_conn
        try:
            return work(conn, *args, **kwargs)
        finally:
            conn.rollback()

    async def write(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return await self.writer.submit(work, *args, **kwargs)

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
            url, pool_size=pool_size, max_overflow=0, pool_timeout=30
        )
        # Reads are single statements: autocommit spares them BEGIN and ROLLBACK round trips.
        self._autocommit = self._engine.execution_options(isolation_level="AUTOCOMMIT")
        self._statements: dict[sa.Select[Any], Statement] = {}
        self._warned_at = -UNAVAILABLE_LOG_EVERY

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
            async with self._engine.begin() as conn:
                try:
                    return await conn.run_sync(work, *args, **kwargs)
                except Exception as exc:
                    # Lost before COMMIT was sent: the database rolled it back, it may run again.
                    # (Lost during COMMIT is not retried: it may have committed.)
                    if _lost_connection(exc):
                        raise _LostBeforeCommit from exc
                    raise

        return await self._reconnecting(lambda: _retried(transaction))

    async def _reconnecting(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """Runs `attempt`, and once more on fresh connections if the database connection was
        lost (a restart leaves every pooled connection dead). Raises Unavailable when the
        database still cannot be reached."""
        for tries in (1, 2):
            try:
                return await attempt()
            except Exception as exc:
                if not _lost_connection(exc):
                    raise
                # Forget every pooled connection at once, not one failed request at a time.
                await self._engine.dispose(close=False)
                if tries == 2:
                    self._warn(exc)
                    raise Unavailable from exc
        raise AssertionError("unreachable")

    def _warn(self, exc: BaseException) -> None:
        # One line now and then, not a traceback per request, while the database is away.
        now = time.monotonic()
        if now - self._warned_at >= UNAVAILABLE_LOG_EVERY:
            self._warned_at = now
            cause = exc.__cause__ or exc
            log.warning("the database cannot be reached (answering 503): %s", cause)

    async def dispose(self) -> None:
        await self._engine.dispose()


UNAVAILABLE_LOG_EVERY = 10.0  # seconds


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
    return isinstance(exc, OSError | asyncpg.InterfaceError) or isinstance(
        cause, OSError | asyncpg.InterfaceError | asyncpg.ConnectionDoesNotExistError
    )


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
