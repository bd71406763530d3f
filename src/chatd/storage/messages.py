"""Messages as rows: the history's reads (pages by id cursor and by seq, one message), and the
edits and tombstones that core/writes.py decides. Sends are appended by the database's
dialect (storage/dialects.py), in batches."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from chatd.core.clock import rfc3339
from chatd.core.errors import ChatNotFound, MessageNotFound
from chatd.core.models import ChatId, Message, MessageId, Page, SeqPage
from chatd.storage.lookups import exists
from chatd.storage.records import message_body
from chatd.storage.tables import chats, messages

_chat = sa.bindparam("chat", type_=sa.BigInteger)

# In Message's field order: rows become Messages positionally (100 rows a page).
MESSAGE_COLUMNS = (
    messages.c.id,
    messages.c.chat_id,
    messages.c.seq,
    messages.c.author_id,
    messages.c.text,
    messages.c.created_at,
    messages.c.edited_at,
    messages.c.deleted_at,
)
_visible = messages.c.deleted_at.is_(None)
# What the Avito listings join (storage/documents.py).
_RECORD_COLUMNS = (messages.c.id, messages.c.seq, messages.c.body)


def _seq_of(cursor: str) -> sa.ScalarSelect[Any]:
    return (
        sa.select(messages.c.seq)
        .where(messages.c.id == sa.bindparam(cursor), messages.c.chat_id == _chat)
        .scalar_subquery()
    )


@functools.cache
def page_query(after: bool, before: bool, limit: bool) -> sa.Select[Any]:
    # The Avito API's pages, by message id cursors: eight shapes, each built once.
    query = sa.select(*_RECORD_COLUMNS).where(messages.c.chat_id == _chat, _visible)
    if after:
        query = query.where(messages.c.seq > _seq_of("after"))
    if before:
        query = query.where(messages.c.seq < _seq_of("before"))
    # Walk forward from `after`; otherwise take the newest messages (before the cursor).
    forward = after or not limit
    query = query.order_by(messages.c.seq if forward else messages.c.seq.desc())
    if limit:
        query = query.limit(sa.bindparam("limit"))
    return query


def explain_empty_page(conn: sa.Connection, chat: ChatId, page: Page) -> None:
    if not exists(conn, chats, chat):
        raise ChatNotFound(chat)
    for cursor in (page.before, page.after):
        if cursor is None:
            continue
        query = sa.select(sa.literal(1)).where(messages.c.id == cursor, messages.c.chat_id == chat)
        if conn.execute(query).first() is None:
            raise MessageNotFound(cursor, chat)


def last_seq(conn: sa.Connection, chat: ChatId) -> int | None:
    value = conn.execute(sa.select(chats.c.last_seq).where(chats.c.id == chat)).scalar()
    return None if value is None else int(value)


def seq_range_query() -> sa.Select[Any]:
    """Visible messages with from_seq < seq <= to_seq, oldest first: a slice of a history."""
    return (
        sa.select(*_RECORD_COLUMNS)
        .where(
            messages.c.chat_id == _chat,
            messages.c.seq > sa.bindparam("from_seq"),
            messages.c.seq <= sa.bindparam("to_seq"),
            _visible,
        )
        .order_by(messages.c.seq)
    )


@functools.cache
def _seq_page_query(after: bool, before: bool) -> sa.Select[Any]:
    query = sa.select(*MESSAGE_COLUMNS).where(messages.c.chat_id == _chat)
    if after:
        query = query.where(messages.c.seq > sa.bindparam("after_seq"))
    if before:
        query = query.where(messages.c.seq < sa.bindparam("before_seq"))
    order = messages.c.seq if after else messages.c.seq.desc()
    return query.order_by(order).limit(sa.bindparam("limit"))


def history_page(conn: sa.Connection, chat: ChatId, page: SeqPage) -> list[Message]:
    query = _seq_page_query(page.after_seq is not None, page.before_seq is not None)
    params = {
        "chat": chat,
        "limit": page.limit,
        "after_seq": page.after_seq,
        "before_seq": page.before_seq,
    }
    found = [Message(*row) for row in conn.execute(query, params).all()]
    if page.after_seq is None:
        found.reverse()
    return found


def find_message(conn: sa.Connection, message: MessageId) -> Message | None:
    row = conn.execute(sa.select(*MESSAGE_COLUMNS).where(messages.c.id == message)).first()
    return None if row is None else Message(*row)


def edit(conn: sa.Connection, message: MessageId, text: str, now: datetime) -> Message | None:
    row = conn.execute(
        messages.update()
        .where(messages.c.id == message, _visible)
        .values(text=text, edited_at=now)
        .returning(*MESSAGE_COLUMNS)
    ).first()
    if row is None:
        return None
    edited = Message(*row)
    # Its stored record says the new text (the Avito listings show no edit time).
    body = message_body(edited.chat, edited.author, text, rfc3339(edited.created_at))
    conn.execute(messages.update().where(messages.c.id == message).values(body=body))
    return edited


def tombstone(conn: sa.Connection, message: MessageId, now: datetime) -> ChatId | None:
    """Empties the message, keeping its seq so histories stay gap-free; its chat, or None if it
    was a tombstone already."""
    chat = conn.execute(
        messages.update()
        .where(messages.c.id == message, _visible)
        .values(text="", body="", deleted_at=now)
        .returning(messages.c.chat_id)
    ).scalar()
    return None if chat is None else int(chat)
