"""The Avito API's listings, joined by the database from the records the writes stored.

Each message keeps its record and each chat its listing entry as text (storage/records.py), so a
listing is one index range whose texts the database joins into one JSON array (group_concat on
SQLite, string_agg on PostgreSQL, both in C), and it reaches Python as one value that goes out
as it is. Nothing is formatted on a read: decisions §24 has what formatting on every read cost.
"""

from __future__ import annotations

import functools
from typing import Any

import sqlalchemy as sa

from chatd.core.models import ChatId, Page, UserId
from chatd.storage import messages as history
from chatd.storage.database import Database
from chatd.storage.dialects import Dialect, const
from chatd.storage.tables import chat_members, chats


def _text(value: sa.ColumnElement[Any]) -> sa.ColumnElement[str]:
    return sa.cast(value, sa.Text)


@functools.cache
def user_chats_query(sql: Dialect) -> sa.Select[Any]:
    record = (
        chats.c.head.concat(const(',"last_message_at":"'))
        .concat(chats.c.last_message_text)
        .concat(const('"}'))
    )
    mine = chat_members.alias("mine")
    listed = (
        sa.select(chats.c.id)
        .join(mine, mine.c.chat_id == chats.c.id)
        .where(mine.c.user_id == sa.bindparam("user"))
    )
    return sql.joined(listed, record, chats.c.last_message_at.desc(), chats.c.id.desc())


@functools.cache
def messages_query(sql: Dialect, after: bool, before: bool, limit: bool) -> sa.Select[Any]:
    return _messages(sql, history.page_query(after, before, limit).subquery())


@functools.cache
def seq_range_query(sql: Dialect) -> sa.Select[Any]:
    return _messages(sql, history.seq_range_query().subquery())


def _messages(sql: Dialect, page: sa.Subquery) -> sa.Select[Any]:
    record = const('{"id":').concat(_text(page.c.id)).concat(const(",")).concat(page.c.body)
    rows = sql.rows_for_join(sa.select(record.label("record"), page.c.seq), page.c.seq).subquery()
    return sa.select(sql.join_records(rows.c.record, rows.c.seq))


def _document(value: bytes | None) -> bytes | None:
    """The document, or None for an empty listing."""
    return None if value is None or value == b"[]" else value


async def user_chats(db: Database, user: UserId) -> bytes | None:
    return _document(await db.scalar(user_chats_query(db.sql), {"user": user}))


async def messages_page(db: Database, chat: ChatId, page: Page) -> bytes:
    query = messages_query(
        db.sql, page.after is not None, page.before is not None, page.limit is not None
    )
    params = {"chat": chat, "limit": page.limit, "before": page.before, "after": page.after}
    found = _document(await db.scalar(query, params))
    if found is None:
        await db.read(history.explain_empty_page, chat, page)
        return b"[]"
    return found


async def history_slice(db: Database, chat: ChatId, from_seq: int, to_seq: int) -> bytes | None:
    """The visible messages with from_seq < seq <= to_seq, or None if there are none."""
    params = {"chat": chat, "from_seq": from_seq, "to_seq": to_seq}
    return _document(await db.scalar(seq_range_query(db.sql), params))
