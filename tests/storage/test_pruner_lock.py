"""The change log's pruner runs on one process of a cluster at a time: on PostgreSQL a prune
that finds the pruning lock held (here, by the test's own connection, as another replica would
hold it) skips; once the lock is free it prunes. On SQLite the file's write lock already keeps
prunes apart."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import timedelta

import asyncpg
import pytest
import sqlalchemy as sa

from chatd.config import Settings
from chatd.core import clock
from chatd.core.writes import do_prune_changes
from chatd.storage import locks
from chatd.storage.database import open_database
from chatd.storage.store import SqlStore

OLD_CHANGES = 3
RETENTION = timedelta(days=30)


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[SqlStore]:
    database = open_database(Settings(database_url=database_url))
    opened = SqlStore(database)
    try:
        yield opened
    finally:
        await opened.close()
        await database.dispose()


async def _log_old_changes(store: SqlStore) -> None:
    """Changes logged before the retention, as if written 40 days ago."""
    ago = clock.now() - timedelta(days=40)
    rows = [(pos, "user.blocked", None, pos, None, None) for pos in range(1, OLD_CHANGES + 1)]
    await store.db.write(_insert_changes, rows, store.db.sql.time(ago))


def _insert_changes(conn: sa.Connection, rows: Sequence[tuple[object, ...]], at: object) -> None:
    insert = sa.text(
        "INSERT INTO changes (pos, type, chat_id, user_id, message_id, seq, created_at) "
        "VALUES (:pos, :type, :chat, :usr, :message, :seq, :at)"
    )
    keys = ("pos", "type", "chat", "usr", "message", "seq")
    conn.execute(insert, [{**dict(zip(keys, row, strict=True)), "at": at} for row in rows])
    conn.execute(sa.text("UPDATE change_log SET last_pos = :last"), {"last": len(rows)})


async def _prune(store: SqlStore) -> int:
    pruned: int = await store.write(None, do_prune_changes, clock.now() - RETENTION)
    return pruned


async def test_old_changes_are_pruned(store: SqlStore) -> None:
    await _log_old_changes(store)
    assert await _prune(store) == OLD_CHANGES
    assert await store.change_positions() == (OLD_CHANGES, OLD_CHANGES)


@pytest.mark.parametrize("migrated_url", ["postgresql"], indirect=True)
async def test_a_prune_skips_while_another_process_holds_the_pruning_lock(
    store: SqlStore, database_url: str
) -> None:
    await _log_old_changes(store)
    other = await asyncpg.connect(database_url)
    try:
        await other.execute("SELECT pg_advisory_lock($1)", locks.PRUNING)
        assert await _prune(store) == 0
        assert await store.change_positions() == (OLD_CHANGES, 0)
        await other.execute("SELECT pg_advisory_unlock($1)", locks.PRUNING)
    finally:
        await other.close()
    assert await _prune(store) == OLD_CHANGES
    assert await store.change_positions() == (OLD_CHANGES, OLD_CHANGES)
