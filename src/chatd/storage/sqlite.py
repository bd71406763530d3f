"""SQLite in process: reads inline on the event loop, writes on one writer thread that commits
in groups (storage/groupcommit.py). See storage/database.py for why."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy import event, pool

from chatd.storage.database import Outages, Statement, Work, ensure_sqlite_directory
from chatd.storage.groupcommit import GroupCommitWriter, storage_fault

P = ParamSpec("P")
T = TypeVar("T")


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
