"""Work that one chatd process of a cluster does at a time: PostgreSQL advisory locks.

Both locks are transaction-level (`pg_advisory_xact_lock`): PostgreSQL lets them go at commit or
rollback, and with the connection if the process dies, so no path can leave one held. Their keys
are fixed numbers in PostgreSQL's one advisory-lock space per database: an operator can see them
in `pg_locks` (objid is the low half of the key) or take one by hand.

On SQLite every write transaction (BEGIN IMMEDIATE, storage/sqlite.py) holds the file's one
write lock, whatever process it runs in: the same exclusion already holds, and these are no-ops.
"""

from __future__ import annotations

import sqlalchemy as sa

MIGRATIONS = 0x6368_6174_6400_0001  # "chatd" 1: Alembic's upgrade (storage/migrate.py)
PRUNING = 0x6368_6174_6400_0002  # "chatd" 2: the change log's pruning (storage/changes.py)


def wait_for(conn: sa.Connection, key: int) -> None:
    """Waits until this transaction holds `key`'s lock."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def take_if_free(conn: sa.Connection, key: int) -> bool:
    """Whether this transaction now holds `key`'s lock; False at once if another one does."""
    if conn.dialect.name != "postgresql":
        return True
    query = sa.text("SELECT pg_try_advisory_xact_lock(:key)")
    return bool(conn.execute(query, {"key": key}).scalar_one())
