"""SQLite's hot writes on the driver itself: a send and the change log's append.

On the one writer thread every microsecond of Python is a microsecond all writes wait for, and
holds the GIL the event loop needs. Through SQLAlchemy a send's statements cost ~60-100 µs each
in compilation-cache lookups, parameter processing and result wrapping; straight on sqlite3
they cost a few. The statements are SQLite's form of history's send (which PostgreSQL runs as one
statement) and of changes.append (the API suite runs both paths, one on each database); times
are stored as integer microseconds, as tables.Timestamp does.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from chatd.core import events
from chatd.core.events import Change, Written
from chatd.core.models import ChatId, Message, UserId
from chatd.storage.history import explain_refused_send
from chatd.storage.tables import EPOCH, MICROSECOND, from_micros

_BUMP = """
UPDATE chats SET last_seq = last_seq + 1, last_message_at = max(last_message_at, ?1)
WHERE id = ?2
  AND EXISTS (SELECT 1 FROM chat_members WHERE chat_id = ?2 AND user_id = ?3)
  AND NOT EXISTS (SELECT 1 FROM users WHERE id = ?3 AND blocked_at IS NOT NULL)
RETURNING last_seq, last_message_at
"""
_INSERT = """
INSERT INTO messages (chat_id, seq, author_id, text, created_at) VALUES (?, ?, ?, ?, ?)
RETURNING id
"""
_MARK_READ = "UPDATE chat_members SET last_read_seq = ? WHERE chat_id = ? AND user_id = ?"
_LOG_BUMP = "UPDATE change_log SET last_pos = last_pos + ? WHERE id = 1 RETURNING last_pos"
_LOG_INSERT = """
INSERT INTO changes (pos, type, chat_id, user_id, message_id, seq, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?)
"""
_JOINED = "UPDATE chat_members SET joined_pos = ? WHERE chat_id = ? AND user_id = ?"


def driver(conn: sa.Connection) -> sqlite3.Connection:
    raw: Any = conn.connection.driver_connection
    assert isinstance(raw, sqlite3.Connection)
    return raw


def micros(value: datetime) -> int:
    return (value - EPOCH) // MICROSECOND


def post(
    conn: sa.Connection, chat: ChatId, author: UserId, text: str, now: datetime
) -> Written[Message]:
    db = driver(conn)
    bumped = db.execute(_BUMP, (micros(now), chat, author)).fetchone()
    if bumped is None:
        explain_refused_send(conn, chat, author)
    seq, sent_at = bumped
    message_id = db.execute(_INSERT, (chat, seq, author, text, sent_at)).fetchone()[0]
    db.execute(_MARK_READ, (seq, chat, author))
    created_at = from_micros(sent_at)
    assert created_at is not None
    message = Message(message_id, chat, seq, author, text, created_at)
    return Written(message, [Change(events.MESSAGE_CREATED, chat, message=message_id)])


def append(conn: sa.Connection, logged: Sequence[Change], now: datetime) -> int | None:
    if not logged:
        return None
    db = driver(conn)
    last = int(db.execute(_LOG_BUMP, (len(logged),)).fetchone()[0])
    first = last - len(logged) + 1
    at = micros(now)
    rows = [(first + i, c.type, c.chat, c.user, c.message, c.seq, at) for i, c in enumerate(logged)]
    db.executemany(_LOG_INSERT, rows)
    joined = [
        (pos, chat, user)
        for pos, type_, chat, user, *_rest in rows
        if type_ in events.JOINS and user is not None
    ]
    if joined:
        db.executemany(_JOINED, joined)
    return last
