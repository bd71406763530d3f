"""Engines for SQLite and PostgreSQL, with the settings that make each one durable and fast."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from chatd.config import Settings

SQLITE_READERS = 4


class UnsupportedDatabase(ValueError):
    pass


def async_url(database_url: str) -> sa.URL:
    """The SQLAlchemy URL with our async driver for a user-facing `sqlite:` / `postgresql:` URL."""
    url = sa.make_url(database_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        return url.set(drivername="sqlite+aiosqlite")
    if backend in ("postgresql", "postgres"):
        return url.set(drivername="postgresql+asyncpg")
    raise UnsupportedDatabase(
        f"unsupported database URL scheme {url.drivername!r}: use sqlite:/// or postgresql://"
    )


@dataclass
class Database:
    """A writer and a reader engine. They are one engine on PostgreSQL.

    SQLite allows one writer at a time, so writes go through a pool of exactly one connection:
    they queue in the event loop instead of spinning on SQLITE_BUSY, and a later group commit
    has one place to batch them. Reads use their own connections and never wait for writes (WAL).
    """

    writer: AsyncEngine
    reader: AsyncEngine
    dialect: str
    pools: tuple[AsyncEngine, ...]

    async def dispose(self) -> None:
        for engine in self.pools:
            await engine.dispose()


def ensure_sqlite_directory(url: sa.URL) -> None:
    """SQLite creates the file but not its directory (`./data/` on a first start)."""
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)


def open_database(settings: Settings) -> Database:
    url = async_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        return _open_sqlite(url, settings)
    engine = create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=0,
        pool_timeout=30,
        pool_pre_ping=False,
    )
    # Reads are single statements: autocommit spares them a BEGIN and a ROLLBACK round trip.
    reader = engine.execution_options(isolation_level="AUTOCOMMIT")
    return Database(writer=engine, reader=reader, dialect="postgresql", pools=(engine,))


def _open_sqlite(url: sa.URL, settings: Settings) -> Database:
    ensure_sqlite_directory(url)
    pragmas = (
        "PRAGMA journal_mode=WAL",
        f"PRAGMA synchronous={settings.sqlite_synchronous}",
        "PRAGMA foreign_keys=ON",
        "PRAGMA busy_timeout=10000",
    )

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The driver's own transaction handling is off; SQLAlchemy's "begin" below issues BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in pragmas:
            cursor.execute(pragma)
        cursor.close()

    writer = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=60)
    # Readers never BEGIN (no listener): each statement reads its own consistent snapshot.
    reader = create_async_engine(url, pool_size=SQLITE_READERS, max_overflow=0, pool_timeout=60)
    for engine in (writer, reader):
        event.listen(engine.sync_engine, "connect", on_connect)

    @event.listens_for(writer.sync_engine, "begin")
    def on_begin(conn: sa.Connection) -> None:
        # IMMEDIATE takes the write lock up front: no deadlock upgrading a read lock later.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return Database(writer=writer, reader=reader, dialect="sqlite", pools=(writer, reader))
