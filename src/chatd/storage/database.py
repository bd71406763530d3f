"""Where SQL runs: SQLite in-process, or PostgreSQL over asyncpg, behind one small interface.

The store writes its queries as plain synchronous functions of a SQLAlchemy `Connection`; a
`Database` decides how to run them:

- SQLite: reads run inline on the event loop (an indexed read takes ~0.1 ms of C; handing it
  to a thread costs more than that), and write transactions run on one dedicated writer
  thread, because SQLite has one writer at a time anyway: their fsync never blocks the event
  loop. The writes waiting together share one transaction and one fsync: the group commit
  (storage/groupcommit.py) runs over `write` on both databases.
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
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

import sqlalchemy as sa

from chatd.config import Settings
from chatd.core.errors import Unavailable
from chatd.storage.dialects import Dialect

P = ParamSpec("P")
T = TypeVar("T")
Work = Callable[Concatenate[sa.Connection, P], T]

log = logging.getLogger("chatd.storage")

# Bounded reads (Database.read_bounded): how many at once per process, and for how long.
BOUNDED_AT_ONCE = 3  # half the default pool (CHATD_DB_POOL_SIZE): the rest stays for the others
BOUNDED_SECONDS = 2.0

UNAVAILABLE_LOG_EVERY = 10.0  # seconds: how often an outage is told in the log


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


class TooCostly(Exception):
    """A bounded read ran out of its time (Database.read_bounded)."""


class Turns:
    """At most BOUNDED_AT_ONCE bounded reads at once; a wait for a turn lasts BOUNDED_SECONDS."""

    def __init__(self) -> None:
        self._semaphore = asyncio.Semaphore(BOUNDED_AT_ONCE)

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        try:
            async with asyncio.timeout(BOUNDED_SECONDS):
                await self._semaphore.acquire()
        except TimeoutError as exc:
            busy = "too many searches are running now; nothing was changed: retry"
            raise Unavailable(busy) from exc
        try:
            yield
        finally:
            self._semaphore.release()


class Database(Protocol):
    sql: Dialect  # what differs between the databases (storage/dialects.py)

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

    async def read_bounded(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Runs a read whose cost the data decides (a search), so that it cannot take the
        server with it: never on the event loop, at most BOUNDED_AT_ONCE of them at once
        (the other reads keep their connections), stopped after BOUNDED_SECONDS. Raises
        TooCostly when stopped, Unavailable when its turn did not come within that time."""
        ...

    async def dispose(self) -> None: ...


def open_database(settings: Settings) -> Database:
    """SQLite (storage/sqlite.py) or PostgreSQL (storage/postgres.py), by the URL's scheme."""
    url = driver_url(settings.database_url, asynchronous=True)
    if url.get_backend_name() == "sqlite":
        from chatd.storage.sqlite import SqliteDatabase

        return SqliteDatabase(url, settings.sqlite_synchronous)
    from chatd.storage.postgres import PostgresDatabase

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
