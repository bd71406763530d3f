"""Bounded reads (Database.read_bounded, what a search runs on): a read that the data makes
long is stopped after its time, never holds the event loop, and no more than a few run at once,
so the other requests keep their connections. On a real SQLite file and a real PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa

from chatd.config import Settings
from chatd.core.errors import Unavailable
from chatd.storage import database as db
from chatd.storage.database import Database, TooCostly, open_database

# A statement that runs for as long as it is let: SQLite counts to a billion, PostgreSQL sleeps.
_ENDLESS = {
    "sqlite": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1e9) "
    "SELECT max(i) FROM n",
    "postgresql": "SELECT pg_sleep(30)",
}


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    opened = open_database(Settings(database_url=database_url))
    try:
        yield opened
    finally:
        await opened.dispose()


def _endless(conn: sa.Connection) -> object:
    return conn.exec_driver_sql(_ENDLESS[conn.dialect.name]).scalar()


def _one(conn: sa.Connection) -> object:
    return conn.exec_driver_sql("SELECT 1").scalar()


async def test_a_bounded_read_is_stopped_after_its_time(database: Database) -> None:
    started = time.monotonic()
    with pytest.raises(TooCostly):
        await database.read_bounded(_endless)
    took = time.monotonic() - started
    assert db.BOUNDED_SECONDS <= took < db.BOUNDED_SECONDS + 3
    assert await database.read_bounded(_one) == 1  # its connection serves the next one


async def test_other_reads_are_served_while_bounded_reads_run(database: Database) -> None:
    running = [asyncio.create_task(database.read_bounded(_endless)) for _ in range(2)]
    await asyncio.sleep(0.3)  # both have started
    started = time.monotonic()
    assert await database.read(_one) == 1
    # Not held by the bounded reads: neither the event loop (SQLite) nor the pool (PostgreSQL).
    assert time.monotonic() - started < 0.5
    for task in running:
        with pytest.raises(TooCostly):
            await task


async def test_no_more_than_a_few_bounded_reads_run_at_once(database: Database) -> None:
    def started() -> list[asyncio.Task[object]]:
        return [
            asyncio.create_task(database.read_bounded(_endless)) for _ in range(db.BOUNDED_AT_ONCE)
        ]

    running = started()
    # Half-way through the running ones' time, so that these are still in line (a second
    # from giving up) when those are stopped, however loaded the machine.
    await asyncio.sleep(db.BOUNDED_SECONDS / 2)
    waiting = started()  # their turn comes when the running ones are stopped
    await asyncio.sleep(0.2)
    began = time.monotonic()
    # Behind them in line, this one waits for as long as a bounded read may run, then is told
    # to retry: it never ran beside more than BOUNDED_AT_ONCE others.
    with pytest.raises(Unavailable, match="too many searches"):
        await database.read_bounded(_one)
    assert time.monotonic() - began >= db.BOUNDED_SECONDS - 0.1
    for task in running + waiting:
        with pytest.raises(TooCostly):
            await task
