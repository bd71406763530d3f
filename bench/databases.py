"""The two databases chatd runs on in the bench, and bulk history loaded straight with SQL.

A million messages through the API would take longer than the whole bench; the bulk rows go in
with one INSERT ... SELECT per batch, and chats.last_seq is bumped to match, as a send would.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.dialects import sqlite

from bench.seed import Seeded
from chatd.core.clock import rfc3339
from chatd.storage.tables import messages
from tests.pgcluster import PgCluster

BULK_TEXT = "bulk message, about as long as a short chat line in a real conversation"
SQLITE_BATCH_CHATS = 100  # keeps one transaction's WAL to ~15 MB


# Each message's stored record (storage/records.py's message_body), built in SQL: the bulk text
# needs no JSON escaping.
_BODY = (
    '\'"chat":\' || c.id || \',"author":\' || {author} || \',"text":"\' || {text} '
    "|| ' ' || s.n || '\",\"created_at\":\"' || {at} || '\"}}'"
)

_SQLITE_TIME = messages.c.created_at.type.bind_processor(sqlite.dialect())


def sqlite_timestamp(value: datetime) -> Any:
    """What chatd stores for a time on SQLite: its own column type decides (storage/tables.py)."""
    return value if _SQLITE_TIME is None else _SQLITE_TIME(value)


def sqlite_connect(path: Path, synchronous: str = "FULL") -> sqlite3.Connection:
    """A connection with chatd's pragmas (storage/database.py), transactions under our control."""
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in (
        "PRAGMA journal_mode=WAL",
        f"PRAGMA synchronous={synchronous}",
        "PRAGMA foreign_keys=ON",
        "PRAGMA busy_timeout=10000",
    ):
        conn.execute(pragma)
    return conn


class SqliteDatabase:
    system = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path}"

    def add_bulk_messages(self, seeded: Seeded, per_chat: int) -> None:
        moment = datetime.now(UTC)
        now = sqlite_timestamp(moment)
        conn = sqlite_connect(self.path)
        try:
            for first in range(seeded.bulk_first, seeded.bulk_last + 1, SQLITE_BATCH_CHATS):
                last = min(first + SQLITE_BATCH_CHATS - 1, seeded.bulk_last)
                params = {"n": per_chat, "author": seeded.author, "now": now}
                params.update(first=first, last=last, text=BULK_TEXT, at=rfc3339(moment))
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(
                    "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < :n) "
                    "INSERT INTO messages (chat_id, seq, author_id, text, created_at, body) "
                    "SELECT c.id, c.last_seq + s.n, :author, :text || ' ' || s.n, :now, "
                    f"{_BODY.format(text=':text', at=':at', author=':author')} "
                    "FROM chats AS c, s WHERE c.id BETWEEN :first AND :last "
                    "ORDER BY c.id, s.n",
                    params,
                )
                conn.execute(
                    "UPDATE chats SET last_seq = last_seq + :n, "
                    "last_message_at = max(last_message_at, :now), last_message_text = :at "
                    "WHERE id BETWEEN :first AND :last",
                    params,
                )
                conn.execute("COMMIT")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()

    def count_messages(self) -> int:
        conn = sqlite_connect(self.path)
        try:
            return int(conn.execute("SELECT count(*) FROM messages").fetchone()[0])
        finally:
            conn.close()


class PostgresDatabase:
    """A throwaway PostgreSQL 15 cluster with durable defaults (fsync and synchronous_commit on)."""

    system = "postgresql"
    name = "chatd_bench"

    def __init__(self, *settings: str) -> None:
        self.cluster = PgCluster(settings=settings)

    def start(self) -> PostgresDatabase:
        self.cluster.start()
        self.cluster.psql(f"CREATE DATABASE {self.name}")
        return self

    def stop(self) -> None:
        self.cluster.stop()

    @property
    def url(self) -> str:
        return self.cluster.url(self.name)

    def settings(self) -> dict[str, str]:
        names = (
            *("server_version", "fsync", "synchronous_commit", "full_page_writes"),
            *("shared_buffers", "max_connections"),
        )
        return {n: self.cluster.psql(f"SHOW {n}", self.name).strip() for n in names}

    def add_bulk_messages(self, seeded: Seeded, per_chat: int) -> None:
        range_ = f"c.id BETWEEN {seeded.bulk_first} AND {seeded.bulk_last}"
        moment = datetime.now(UTC)
        now, at = f"'{moment.isoformat()}'::timestamptz", f"'{rfc3339(moment)}'"
        body = _BODY.format(text=f"'{BULK_TEXT}'", at=at, author=seeded.author).replace("s.n", "s")
        # One simple-query string: one transaction, as psql sends it.
        self.cluster.psql(
            "INSERT INTO messages (chat_id, seq, author_id, text, created_at, body) "
            f"SELECT c.id, c.last_seq + s, {seeded.author}, '{BULK_TEXT} ' || s, {now}, {body} "
            f"FROM chats AS c, generate_series(1, {per_chat}) AS s WHERE {range_} "
            "ORDER BY c.id, s; "
            f"UPDATE chats AS c SET last_seq = last_seq + {per_chat}, "
            f"last_message_at = greatest(last_message_at, {now}), last_message_text = {at} "
            f"WHERE {range_};",
            self.name,
        )
        # Autovacuum would get there too, at a moment of its choosing in the middle of a run.
        self.cluster.psql("VACUUM ANALYZE", self.name)

    def count_messages(self) -> int:
        return int(self.cluster.psql("SELECT count(*) FROM messages", self.name))
