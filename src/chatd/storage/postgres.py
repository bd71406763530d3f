"""PostgreSQL over asyncpg: reads in autocommit, writes in a transaction, from a bounded pool;
deadlock victims run again, a connection lost to a restart is replaced, an outage answers 503.
See storage/database.py and docs/decisions.md §16 and §19."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ParamSpec, TypeVar

import asyncpg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from chatd import metrics
from chatd.core.errors import OutcomeUnknown
from chatd.storage.database import (
    BOUNDED_AT_ONCE,
    BOUNDED_SECONDS,
    Outages,
    Statement,
    TooCostly,
    Turns,
    Work,
)
from chatd.storage.dialects import POSTGRES, Dialect
from chatd.storage.hotconnections import HotConnections
from chatd.storage.slots import Slots

P = ParamSpec("P")
T = TypeVar("T")

log = logging.getLogger("chatd.storage")

# deadlock_detected and serialization_failure: PostgreSQL rolled the transaction back whole.
RETRIED_SQLSTATES = frozenset({"40P01", "40001"})
ATTEMPTS = 5
# A connect waits this long at most (asyncpg's own default is 60 s): a database host that stops
# answering is answered 503 within two attempts, not waited on by every request.
CONNECT_TIMEOUT = 2.0  # seconds
BOUNDED_MS = int(BOUNDED_SECONDS * 1000)
# The sessions of bounded reads (searches), set as they connect:
# - the server stops a statement after BOUNDED_SECONDS, and the connection stays usable;
# - no parallel workers: starting one cost a search ~3 ms (it doubled a rare word's search on a
#   million messages), and under load the other cores are the other requests';
# - a plan for each execution's own words: after five executions PostgreSQL may keep a generic
#   plan, made without them, and the one it kept for the index step walked the key through
#   to_tsvector (45 ms instead of 2). Docs/decisions.md §35.
BOUNDED_SETTINGS = {
    "statement_timeout": str(BOUNDED_MS),
    "max_parallel_workers_per_gather": "0",
    "plan_cache_mode": "force_custom_plan",
}
QUERY_CANCELED = "57014"  # SQLSTATE of a statement stopped by statement_timeout
POOL_TIMEOUT = 30.0  # seconds a request waits for a free connection before it gets 503
# After the database could not be reached, requests get 503 at once for this long instead of
# each trying again (and queueing for connections that cannot be made).
UNREACHABLE_FOR = 1.0  # seconds: Retry-After's value


class PostgresDatabase:
    sql: Dialect = POSTGRES

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
        self._slots = Slots(pool_size, patience=POOL_TIMEOUT)
        self._in_use = metrics.connections_in_use(self.sql.name)  # the slots taken
        # Reads are single statements: autocommit spares them BEGIN and ROLLBACK round trips.
        self._autocommit = self._engine.execution_options(isolation_level="AUTOCOMMIT")
        self._statements: dict[sa.Select[Any], Statement] = {}
        self._outages = Outages()
        self._unreachable_until = 0.0
        self._unreachable: BaseException | None = None
        self._forgot_at = -1.0
        self._dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        # The listings' reads run on the driver, beside SQLAlchemy's pool: through it a read paid
        # for a checkout and a return (a greenlet switch, the pool's events, the connection's
        # reset), the largest cost left in chatd's process for a listing in a py-spy profile
        # (docs/decisions.md §24). Both share the slots: the database never sees more than
        # `pool_size` statements from this process at once.
        self._hot = HotConnections(self._dsn, CONNECT_TIMEOUT)
        self._turns = Turns()
        # Bounded reads on connections of their own, set for them as they connect: no SET and
        # RESET round trips a search. They take the same slots as every other statement.
        self._bounded_engine = create_async_engine(
            url,
            pool_size=BOUNDED_AT_ONCE,
            max_overflow=0,
            pool_timeout=POOL_TIMEOUT,
            connect_args={"timeout": CONNECT_TIMEOUT, "server_settings": BOUNDED_SETTINGS},
        )
        self._bounded = self._bounded_engine.execution_options(isolation_level="AUTOCOMMIT")

    async def scalar(self, query: sa.Select[Any], params: Mapping[str, Any]) -> Any:
        statement = self._statements.get(query)
        if statement is None:
            statement = self._statements[query] = Statement.of(query, self._engine.dialect)
        args = statement.args(params)
        return await self._reconnecting(lambda: self._hot.fetchval(statement.sql, args))

    async def read(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        async def attempt() -> T:
            async with self._autocommit.connect() as conn:
                return await conn.run_sync(work, *args, **kwargs)

        return await self._reconnecting(attempt)

    async def read_bounded(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        async def attempt() -> T:
            async with self._bounded.connect() as conn:
                try:
                    return await conn.run_sync(work, *args, **kwargs)
                except sa.exc.DBAPIError as exc:
                    if getattr(exc.orig, "sqlstate", None) == QUERY_CANCELED:
                        raise TooCostly from exc
                    raise

        async with self._turns.turn():
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
        try:
            await self._slots.acquire()
        except TimeoutError as exc:
            what = f"has had no free connection for {POOL_TIMEOUT:.0f} s"
            raise self._outages.unavailable(exc, what) from exc
        self._in_use.inc()
        try:
            self._fail_fast()  # it may have been found unreachable while this one queued
            return await self._twice(attempt, retry or _lost_connection)
        finally:
            self._in_use.dec()
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
            self._bounded_engine.sync_engine.dispose(close=False)
            self._hot.expire()

    def _fail_fast(self) -> None:
        if self._unreachable is not None and time.monotonic() < self._unreachable_until:
            raise self._outages.unavailable(self._unreachable, "cannot be reached")

    async def dispose(self) -> None:
        await self._hot.close()
        await self._bounded_engine.dispose()
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
