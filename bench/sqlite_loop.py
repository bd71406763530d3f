"""Reference (c): chatd's SQLite send transaction in a tight single-thread Python loop.

SQLite's send statements of storage/dialects.py (`SqliteDialect.insert_messages`), written out
by hand: BEGIN IMMEDIATE; bump the chat (membership and not-blocked checks in the WHERE, its
stored last message time with it) RETURNING its seq; insert the message with its stored record
(made by storage/records.py's `message_body`, as chatd does); move the author's read marker;
COMMIT. One send per transaction. WAL, with synchronous=FULL as chatd runs it, and NORMAL for
orientation. No server, no HTTP, no asyncio, no SQLAlchemy: what the database file takes from
one writer. Keep the two in step when the send path changes.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from bench.databases import sqlite_connect, sqlite_timestamp
from bench.measurements import Run
from bench.scenarios import MESSAGES_ADD_ONE, MESSAGES_ADD_RANDOM
from bench.seed import Seeded
from bench.series import Series
from chatd.core.clock import rfc3339
from chatd.storage.records import message_body

BUMP = (
    "UPDATE chats SET last_seq = last_seq + 1, "
    "last_message_at = max(last_message_at, :now), "
    "last_message_text = CASE WHEN :now >= last_message_at THEN :now_text "
    "ELSE last_message_text END "
    "WHERE id = :chat "
    "AND EXISTS (SELECT 1 FROM chat_members WHERE chat_id = :chat AND user_id = :author) "
    "AND NOT EXISTS (SELECT 1 FROM users WHERE id = :author AND blocked_at IS NOT NULL) "
    "RETURNING id, last_seq, last_message_at, last_message_text"
)
INSERT = (
    "INSERT INTO messages (chat_id, seq, author_id, text, created_at, body) "
    "VALUES (:chat, :seq, :author, :text, :created_at, :body) RETURNING id"
)
TEXT = "hello from the loop"
MARK_READ = (
    "UPDATE chat_members SET last_read_seq = :seq WHERE chat_id = :chat AND user_id = :author"
)
SYNCHRONOUS = ("FULL", "NORMAL")


def sqlite_loop_scenario(scenario: str, synchronous: str) -> str:
    return f"{scenario}, synchronous={synchronous}"


def run_loop(
    path: Path, pick_chat: Callable[[], int], author: int, seconds: float, synchronous: str
) -> Run:
    conn = sqlite_connect(path, synchronous)
    try:
        done = 0
        started = time.perf_counter()
        deadline = started + seconds
        while time.perf_counter() < deadline:
            chat = pick_chat()
            moment = datetime.now(UTC)
            now = sqlite_timestamp(moment)
            conn.execute("BEGIN IMMEDIATE")
            params = {"chat": chat, "author": author, "now": now, "now_text": rfc3339(moment)}
            _chat, seq, created_at, at_text = conn.execute(BUMP, params).fetchone()
            body = message_body(chat, author, TEXT, at_text)
            params.update(seq=seq, text=TEXT, created_at=created_at, body=body)
            conn.execute(INSERT, params).fetchone()
            conn.execute(MARK_READ, params)
            conn.execute("COMMIT")
            done += 1
        elapsed = time.perf_counter() - started
    finally:
        conn.close()
    return Run(requests_per_s=done / elapsed, mean_ms=elapsed / done * 1000, requests=done)


def sqlite_loop_series(path: Path, seeded: Seeded) -> list[Series]:
    picks: dict[str, Callable[[], int]] = {
        MESSAGES_ADD_ONE: lambda: seeded.hot_chat,
        MESSAGES_ADD_RANDOM: lambda: random.randint(seeded.bulk_first, seeded.bulk_last),
    }
    return [
        Series(
            "sqlite loop",
            sqlite_loop_scenario(scenario, synchronous),
            1,
            partial(run_loop, path, pick, seeded.author, synchronous=synchronous),
        )
        for synchronous in SYNCHRONOUS
        for scenario, pick in picks.items()
    ]
