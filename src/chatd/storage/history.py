"""Messages: sending, history pages, edits and tombstones.

A send bumps the chat first, under its row lock: chats.last_seq gives the message its gap-free
seq and chats.last_message_at its time, which never goes back, so within a chat seq, id and
created_at grow together. The bump's WHERE is also the membership and not-blocked check, so the
happy path does no separate read.

On PostgreSQL the check must read the members as they are once the chat's row lock is held. An
UPDATE that waits on the lock behind a leave (storage/chats.py takes it first) goes on when the
leave commits, re-checking the chat's row only: its EXISTS keep the snapshot taken before the
wait, where the author is still a member. So post_one_statement takes the lock in a statement of
its own and sends in the next, whose snapshot (READ COMMITTED) sees the committed leave; the
batched sends (storage/sendbatch.py) lock their chats first in the same way.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from chatd.core import events
from chatd.core.errors import ChatNotFound, MessageNotFound, NotAMember, UserBlocked, UserNotFound
from chatd.core.events import Change, Written
from chatd.core.models import ChatId, Message, MessageId, Page, SeqPage, UserId
from chatd.storage.lookups import exists
from chatd.storage.tables import Timestamp, chat_members, chats, messages, users

_chat = sa.bindparam("chat", type_=sa.BigInteger)
_author = sa.bindparam("author", type_=sa.BigInteger)
_now = sa.bindparam("now", type_=Timestamp)

_BUMP_CHAT = (
    chats.update()
    .where(
        chats.c.id == _chat,
        sa.exists().where(chat_members.c.chat_id == _chat, chat_members.c.user_id == _author),
        ~sa.exists().where(users.c.id == _author, users.c.blocked_at.is_not(None)),
    )
    .values(
        last_seq=chats.c.last_seq + 1,
        last_message_at=sa.case(
            (chats.c.last_message_at > _now, chats.c.last_message_at), else_=_now
        ),
    )
    .returning(chats.c.id, chats.c.last_seq, chats.c.last_message_at)
)


# FOR NO KEY UPDATE, the mode the bump's UPDATE takes: it waits for a leave's or a deletion's
# FOR UPDATE and for other sends, not for inserts that only reference the chat.
_LOCK_CHAT = sa.select(chats.c.id).where(chats.c.id == _chat).with_for_update(key_share=True)


def _bump_insert_mark() -> sa.Select[Any]:
    # PostgreSQL runs all three as one statement: one round trip under the chat's row lock.
    bumped = _BUMP_CHAT.cte("bumped")
    source = sa.select(
        _chat,
        bumped.c.last_seq,
        _author,
        sa.bindparam("text", type_=sa.Text),
        bumped.c.last_message_at,
    )
    inserted = (
        messages.insert()
        .from_select(["chat_id", "seq", "author_id", "text", "created_at"], source)
        .returning(messages.c.id, messages.c.seq, messages.c.created_at)
        .cte("inserted")
    )
    marked = (
        chat_members.update()
        .where(chat_members.c.chat_id == bumped.c.id, chat_members.c.user_id == _author)
        .values(last_read_seq=bumped.c.last_seq)  # UPDATE ... FROM bumped: no row, no update
        .cte("marked")
    )
    return sa.select(inserted.c.id, inserted.c.seq, inserted.c.created_at).add_cte(
        bumped, inserted, marked
    )


_BUMP_INSERT_MARK = _bump_insert_mark()

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


def _sent(message: Message) -> Written[Message]:
    return Written(message, [Change(events.MESSAGE_CREATED, message.chat, message=message.id)])


def post_one_statement(
    conn: sa.Connection, chat: ChatId, author: UserId, text: str, now: datetime
) -> Written[Message]:
    """PostgreSQL's single send: the chat's row lock, then the send as one statement that
    checks membership in a snapshot taken under the lock. Raises as explain_refused_send."""
    params = {"chat": chat, "author": author, "now": now, "text": text}
    # One round trip more, under the lock: measured on a local socket, ~0.1 ms a send for a
    # lone client (1,470 -> 1,270 sends/s with fsync off, 1,240 -> 1,100 durable) and 7-14 %
    # fewer sends/s at 16 clients in one chat. Only idempotent and direct sends come here;
    # plain sends are batched (storage/sendbatch.py).
    row = None
    if conn.execute(_LOCK_CHAT, params).first() is not None:
        row = conn.execute(_BUMP_INSERT_MARK, params).first()
    if row is None:
        explain_refused_send(conn, chat, author)
    assert row is not None
    return _sent(Message(row.id, chat, row.seq, author, text, row.created_at))


def explain_refused_send(conn: sa.Connection, chat: ChatId, author: UserId) -> None:
    """Raises why a send's bump matched no row: ChatNotFound, UserNotFound, UserBlocked or
    NotAMember."""
    if not exists(conn, chats, chat):
        raise ChatNotFound(chat)
    blocked = conn.execute(sa.select(users.c.blocked_at).where(users.c.id == author)).first()
    if blocked is None:
        raise UserNotFound([author])
    if blocked.blocked_at is not None:
        raise UserBlocked(author)
    raise NotAMember(author, chat)


def _seq_of(cursor: str) -> sa.ScalarSelect[Any]:
    return (
        sa.select(messages.c.seq)
        .where(messages.c.id == sa.bindparam(cursor), messages.c.chat_id == _chat)
        .scalar_subquery()
    )


@functools.cache
def page_query(after: bool, before: bool, limit: bool) -> sa.Select[Any]:
    # The Avito API's pages, by message id cursors: eight shapes, each built once.
    query = sa.select(*MESSAGE_COLUMNS).where(messages.c.chat_id == _chat, _visible)
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
        sa.select(*MESSAGE_COLUMNS)
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


def edit_message(
    conn: sa.Connection, message: MessageId, text: str, now: datetime
) -> Written[Message]:
    row = conn.execute(
        messages.update()
        .where(messages.c.id == message, _visible)
        .values(text=text, edited_at=now)
        .returning(*MESSAGE_COLUMNS)
    ).first()
    if row is None:
        raise MessageNotFound(message)
    edited = Message(*row)
    return Written(edited, [Change(events.MESSAGE_EDITED, edited.chat, message=message)])


def delete_message(conn: sa.Connection, message: MessageId, now: datetime) -> Written[None]:
    # A tombstone: the text goes, the seq stays, so histories stay gap-free.
    chat = conn.execute(
        messages.update()
        .where(messages.c.id == message, _visible)
        .values(text="", deleted_at=now)
        .returning(messages.c.chat_id)
    ).scalar()
    if chat is None:  # already a tombstone: nothing happened
        return Written(None, [])
    return Written(None, [Change(events.MESSAGE_DELETED, chat, message=message)])
