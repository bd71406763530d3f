"""Messages as rows: the history's reads (pages by id cursor and by seq, one message), and the
edits and tombstones that core/writes.py decides. Sends are appended by the database's
dialect (storage/dialects.py), in batches."""

from __future__ import annotations

import functools
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from chatd.core.clock import rfc3339
from chatd.core.errors import ChatNotFound, MessageNotFound
from chatd.core.messages import QUOTE_LENGTH
from chatd.core.models import ChatId, Message, MessageId, Page, Quote, Reaction, SeqPage, UserId
from chatd.storage.lookups import exists
from chatd.storage.records import mentions_text, message_body
from chatd.storage.tables import (
    chat_members,
    chats,
    message_mentions,
    message_reactions,
    messages,
    users,
)

_chat = sa.bindparam("chat", type_=sa.BigInteger)
_id = sa.bindparam("id", type_=sa.BigInteger)

# The message a reply answers, joined by its primary key: its current text and state.
_replied = messages.alias("replied")

# In Message's field order, then whom it mentions and what it answers: message_of() reads them.
MESSAGE_COLUMNS = (
    messages.c.id,
    messages.c.chat_id,
    messages.c.seq,
    messages.c.author_id,
    messages.c.text,
    messages.c.created_at,
    messages.c.edited_at,
    messages.c.deleted_at,
    messages.c.mentions,
    messages.c.reply_to_id,
    _replied.c.author_id,
    sa.func.substr(_replied.c.text, 1, QUOTE_LENGTH),
    _replied.c.deleted_at,
)


def with_quotes(source: sa.FromClause) -> sa.FromClause:
    """`source` (holding `messages`) as MESSAGE_COLUMNS read it: with what each one answers."""
    return source.outerjoin(_replied, _replied.c.id == messages.c.reply_to_id)


def message_of(row: Sequence[Any]) -> Message:
    """A Message from MESSAGE_COLUMNS' values (reactions apart: with_reactions adds them)."""
    mentions, reply_to, author, excerpt, replied_deleted = row[8:13]
    quote = None
    if reply_to is not None:
        # No row: its chat is being deleted with this one (replies stay within a chat).
        gone = author is None or replied_deleted is not None
        quote = Quote(reply_to, author or 0, None if gone else excerpt, gone)
    id_, chat, seq, author_id, text, created_at, edited_at, deleted_at = row[:8]
    return Message(
        id_, chat, seq, author_id, text, created_at, edited_at, deleted_at, quote, (),
        mention_ids(mentions),
    )  # fmt: skip


def mention_ids(value: str | None) -> tuple[UserId, ...]:
    return () if not value else tuple(map(int, value.split(",")))


_REACTIONS = (
    sa.select(
        message_reactions.c.message_id, message_reactions.c.emoji, message_reactions.c.user_id
    )
    .where(message_reactions.c.message_id.in_(sa.bindparam("ids", expanding=True)))
    # Each emoji in the order it was first put on its message, each one's users in theirs.
    .order_by(message_reactions.c.created_at, message_reactions.c.user_id)
)


def with_reactions(conn: sa.Connection, found: list[Message]) -> list[Message]:
    """The messages with their reactions: one indexed read for all of them (none when all are
    tombstones, which have none)."""
    ids = [message.id for message in found if message.deleted_at is None]
    if not ids:
        return found
    by_message: dict[MessageId, dict[str, list[UserId]]] = {}
    for message_id, emoji, user in conn.execute(_REACTIONS, {"ids": ids}):
        by_message.setdefault(message_id, {}).setdefault(emoji, []).append(user)
    if not by_message:
        return found
    return [
        message
        if message.id not in by_message
        else message._replace(reactions=_totals(by_message[message.id]))
        for message in found
    ]


def _totals(users_by_emoji: dict[str, list[UserId]]) -> tuple[Reaction, ...]:
    return tuple(Reaction(emoji, tuple(users)) for emoji, users in users_by_emoji.items())


def reactions(conn: sa.Connection, message: MessageId) -> tuple[Reaction, ...]:
    by_emoji: dict[str, list[UserId]] = {}
    for _id, emoji, user in conn.execute(_REACTIONS, {"ids": [message]}):
        by_emoji.setdefault(emoji, []).append(user)
    return _totals(by_emoji)


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
    query = (
        sa.select(*MESSAGE_COLUMNS)
        .select_from(with_quotes(messages))
        .where(messages.c.chat_id == _chat)
    )
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
    found = [message_of(row) for row in conn.execute(query, params).all()]
    if page.after_seq is None:
        found.reverse()
    return with_reactions(conn, found)


_ONE = sa.select(*MESSAGE_COLUMNS).select_from(with_quotes(messages)).where(messages.c.id == _id)


def find_message(conn: sa.Connection, message: MessageId) -> Message | None:
    row = conn.execute(_ONE, {"id": message}).first()
    return None if row is None else with_reactions(conn, [message_of(row)])[0]


def edit(conn: sa.Connection, message: MessageId, text: str, now: datetime) -> Message | None:
    row = conn.execute(
        messages.update()
        .where(messages.c.id == message, _visible)
        .values(text=text, edited_at=now)
        .returning(
            messages.c.chat_id, messages.c.author_id, messages.c.created_at, messages.c.reply_to_id
        )
    ).first()
    if row is None:
        return None
    # Its stored record says the new text (the Avito listings show no edit time).
    body = message_body(row.chat_id, row.author_id, text, rfc3339(row.created_at), row.reply_to_id)
    conn.execute(messages.update().where(messages.c.id == message).values(body=body))
    return find_message(conn, message)


def set_mentions(conn: sa.Connection, message: Message, mentions: tuple[UserId, ...]) -> Message:
    """Replaces the message's mentions: its column and its index rows."""
    conn.execute(
        messages.update()
        .where(messages.c.id == message.id)
        .values(mentions=mentions_text(mentions))
    )
    conn.execute(message_mentions.delete().where(message_mentions.c.message_id == message.id))
    insert_mentions(conn, [message._replace(mentions=mentions)])
    return message._replace(mentions=mentions)


def insert_mentions(conn: sa.Connection, sent: Sequence[Message]) -> None:
    rows = [
        {"message_id": m.id, "user_id": user, "chat_id": m.chat, "seq": m.seq}
        for m in sent
        for user in m.mentions
    ]
    if rows:
        conn.execute(message_mentions.insert(), rows)


def tombstone(conn: sa.Connection, message: MessageId, now: datetime) -> ChatId | None:
    """Empties the message, keeping its seq so histories stay gap-free, and drops its reactions
    and mentions; its chat, or None if it was a tombstone already."""
    chat = conn.execute(
        messages.update()
        .where(messages.c.id == message, _visible)
        .values(text="", body="", deleted_at=now, mentions=None)
        .returning(messages.c.chat_id)
    ).scalar()
    if chat is None:
        return None
    for table in (message_reactions, message_mentions):
        conn.execute(table.delete().where(table.c.message_id == message))
    return int(chat)


def quotes(
    conn: sa.Connection, ids: Collection[MessageId]
) -> dict[MessageId, tuple[ChatId, Quote]]:
    """The messages among `ids`, with their chats, as a reply quotes them."""
    query = sa.select(
        messages.c.id,
        messages.c.chat_id,
        messages.c.author_id,
        sa.func.substr(messages.c.text, 1, QUOTE_LENGTH),
        messages.c.deleted_at,
    ).where(messages.c.id.in_(sorted(ids)))
    found: dict[MessageId, tuple[ChatId, Quote]] = {}
    for id_, chat, author, excerpt, deleted_at in conn.execute(query):
        gone = deleted_at is not None
        found[id_] = (chat, Quote(id_, author, None if gone else excerpt, gone))
    return found


def members_named(conn: sa.Connection, chat: ChatId, names: Collection[str]) -> dict[str, UserId]:
    query = (
        sa.select(users.c.username_key, users.c.id)
        .join(chat_members, chat_members.c.user_id == users.c.id)
        .where(chat_members.c.chat_id == chat, users.c.username_key.in_(sorted(names)))
    )
    return {key: int(user) for key, user in conn.execute(query)}
