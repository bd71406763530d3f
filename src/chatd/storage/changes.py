"""The change log: appended in every writing transaction, read as each user's stream.

Positions come from the single row of `change_log`, bumped by the last statement of each
writing transaction. Its row lock is held until commit, so transactions take positions in the
order they commit: on PostgreSQL, where concurrent transactions commit in any order, a reader
that sees pos N+1 knows N is visible too (or never will be: it was not given out). On SQLite the
one writer thread gives the same order for free.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from chatd.core import events
from chatd.core.events import Change, StreamEvent, StreamPage
from chatd.core.models import ChatId, ChatInfo, Message, UserId
from chatd.storage import chats, sqlite_hot
from chatd.storage.history import MESSAGE_COLUMNS
from chatd.storage.tables import change_log, changes, chat_members, messages

_BUMP = (
    change_log.update()
    .where(change_log.c.id == 1)
    .values(last_pos=change_log.c.last_pos + sa.bindparam("count", type_=sa.BigInteger))
    .returning(change_log.c.last_pos)
)


def append(conn: sa.Connection, logged: Sequence[Change], now: datetime) -> int | None:
    """Logs the changes with consecutive positions; the last one (None when there are none).
    Call it last in a transaction: it takes the log's lock until commit."""
    if not logged:
        return None
    if conn.dialect.name == "sqlite":
        return sqlite_hot.append(conn, logged, now)
    last = int(conn.execute(_BUMP, {"count": len(logged)}).scalar_one())
    first = last - len(logged) + 1
    rows = [
        {
            "pos": first + i,
            "type": change.type,
            "chat_id": change.chat,
            "user_id": change.user,
            "message_id": change.message,
            "seq": change.seq,
            "created_at": now,
        }
        for i, change in enumerate(logged)
    ]
    conn.execute(changes.insert(), rows)
    joined = [
        {"pos": row["pos"], "chat": row["chat_id"], "user": row["user_id"]}
        for row in rows
        if row["type"] in (events.CHAT_CREATED, events.MEMBER_ADDED)
    ]
    if joined:
        conn.execute(_JOINED, joined)
    return last


# A member hears of the chat's changes logged after they joined.
_JOINED = (
    chat_members.update()
    .where(
        chat_members.c.chat_id == sa.bindparam("chat"),
        chat_members.c.user_id == sa.bindparam("user"),
    )
    .values(joined_pos=sa.bindparam("pos"))
)


def positions(conn: sa.Connection) -> tuple[int, int]:
    """The last position given out, and the last one pruned."""
    row = conn.execute(sa.select(change_log.c.last_pos, change_log.c.pruned_pos)).one()
    return int(row.last_pos), int(row.pruned_pos)


def _stream_query() -> sa.Select[Any]:
    user = sa.bindparam("user", type_=sa.BigInteger)
    member_then = sa.exists().where(
        chat_members.c.chat_id == changes.c.chat_id,
        chat_members.c.user_id == user,
        chat_members.c.joined_pos < changes.c.pos,
    )
    mine = sa.and_(
        changes.c.pos > sa.bindparam("after", type_=sa.BigInteger),
        sa.or_(changes.c.user_id == user, sa.and_(changes.c.user_id.is_(None), member_then)),
    )
    # The log's one row, outer-joined with the user's changes: the log's end comes in the same
    # statement, so in the same snapshot as the changes, even when there are none (a second
    # statement would see later commits and let `checked` jump over them).
    with_messages = changes.outerjoin(messages, messages.c.id == changes.c.message_id)
    return (
        sa.select(
            changes.c.pos,
            changes.c.type,
            changes.c.chat_id,
            changes.c.seq,
            change_log.c.last_pos,
            *MESSAGE_COLUMNS,
        )
        .select_from(change_log.outerjoin(with_messages, mine))
        .order_by(changes.c.pos)
        .limit(sa.bindparam("limit"))
    )


_STREAM = _stream_query()


def stream(
    conn: sa.Connection, chat_query: sa.Select[Any], user: UserId, after: int, limit: int
) -> StreamPage:
    """Up to `limit` of the user's changes after `after`, oldest first, with what they refer to
    as it is now."""
    rows = conn.execute(_STREAM, {"user": user, "after": after, "limit": limit}).all()
    last_pos = int(rows[0].last_pos)
    if rows[0].pos is None:
        rows = []  # the log's row alone: nothing for the user
    # Nothing up to the log's end was left out, unless the page was cut at its limit.
    checked = int(rows[-1].pos) if len(rows) == limit else last_pos
    infos: dict[ChatId, ChatInfo | None] = {}
    found = []
    for row in rows:
        pos, type_, chat, seq = row[:4]
        message = Message(*row[5:]) if row[5] is not None else None
        info = None
        if type_ in events.CHAT_TYPES and chat is not None:
            if chat not in infos:
                infos[chat] = chats.find_chat_info(conn, chat_query, user, chat)
            info = infos[chat]
            if info is None:
                continue  # deleted since: the user's chat.deleted comes later in this stream
        if type_ in events.MESSAGE_TYPES and message is None:
            continue  # its chat was deleted since (the stream goes on to chat.deleted)
        found.append(StreamEvent(int(pos), type_, chat, seq, message, info))
    return StreamPage(found, max(checked, after), more=len(rows) == limit)


def prune(conn: sa.Connection, before: datetime, batch: int = 10_000) -> int:
    """Forgets up to `batch` of the oldest changes logged before `before`; how many."""
    oldest = (
        sa.select(changes.c.pos)
        .where(changes.c.created_at < before)
        .order_by(changes.c.pos)
        .limit(batch)
        .subquery()
    )
    upto = conn.execute(sa.select(sa.func.max(oldest.c.pos))).scalar()
    if upto is None:
        return 0
    deleted = conn.execute(changes.delete().where(changes.c.pos <= upto)).rowcount
    conn.execute(
        change_log.update()
        .where(change_log.c.id == 1, change_log.c.pruned_pos < upto)
        .values(pruned_pos=upto)
    )
    return int(deleted)
