"""Chats: creation, membership, listings as a viewer sees them, read markers, private pairs.

Lock order, the same in every write (PostgreSQL would otherwise deadlock two writes that take
the same rows the other way round): the chat's row first, then its members' rows, then its
messages. A send takes the chat's row in a statement before the one that checks membership and
inserts (so that check sees a leave it waited for); every other write that changes members or
deletes takes it with `lock_chat` before anything else, which also serializes membership
changes of one chat (two concurrent member updates, or the last two members leaving at once).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa

from chatd.core import events
from chatd.core.errors import ChatNotFound
from chatd.core.events import Change, Written
from chatd.core.models import ChatId, ChatInfo, ChatListCursor, Message, UserId
from chatd.storage.lookups import insert_id, require_users
from chatd.storage.tables import chat_members, chats, messages, users


def members_aggregate(dialect: str) -> sa.ScalarSelect[Any]:
    """A chat's member ids in one column: an ordered array on PostgreSQL, JSON on SQLite."""
    member = chat_members.c.user_id
    aggregate: sa.ColumnElement[Any]
    if dialect == "postgresql":
        aggregate = sa.func.array_agg(member).aggregate_order_by(member)
    else:
        aggregate = sa.func.json_group_array(member)
    return sa.select(aggregate).where(chat_members.c.chat_id == chats.c.id).scalar_subquery()


def member_ids(value: Any) -> list[UserId]:
    if isinstance(value, str):
        # SQLite does not promise an order inside an aggregate.
        return sorted(orjson.loads(value))
    return value or []


def lock_chat(conn: sa.Connection, chat: ChatId) -> None:
    """Takes the chat's row lock for the rest of the transaction. Raises ChatNotFound.

    On SQLite, FOR UPDATE is not rendered: the one writer thread already serializes writes."""
    query = sa.select(chats.c.id).where(chats.c.id == chat).with_for_update()
    if conn.execute(query).first() is None:
        raise ChatNotFound(chat)


def create_chat(
    conn: sa.Connection,
    name: str | None,
    members: Sequence[UserId],
    now: datetime,
    owner: UserId | None = None,
) -> Written[int]:
    require_users(conn, members)
    values = {"name": name, "created_at": now, "last_message_at": now, "owner_id": owner}
    chat_id = insert_id(conn, chats, values)
    _add_members(conn, chat_id, members, now)
    return Written(chat_id, events.chat_created(chat_id, set(members)))


def create_group(
    conn: sa.Connection,
    query: sa.Select[Any],
    name: str,
    members: Sequence[UserId],
    now: datetime,
    owner: UserId,
) -> Written[ChatInfo]:
    chat, created = create_chat(conn, name, members, now, owner)
    return Written(_info_after_write(conn, query, owner, chat), created)


def _info_after_write(
    conn: sa.Connection, query: sa.Select[Any], viewer: UserId, chat: ChatId
) -> ChatInfo:
    found = find_chat_info(conn, query, viewer, chat)
    if found is None:  # deleted by this very transaction: the caller was its last member
        raise ChatNotFound(chat)
    return found


def _add_members(
    conn: sa.Connection, chat: ChatId, members: Sequence[UserId], now: datetime
) -> None:
    if members:
        rows = [{"chat_id": chat, "user_id": u, "created_at": now} for u in members]
        conn.execute(chat_members.insert(), rows)


def chat_info_query(dialect: str, *, everyone: bool) -> sa.Select[Any]:
    """Chats as one viewer (bind `viewer`) sees them, with the last message, newest first.

    Only the viewer's chats, or every chat for a moderator's `everyone` (marker 0 where they
    are not a member).
    """
    mine = chat_members.alias("mine")
    last = messages.alias("last")
    joined = chats.join(
        mine,
        sa.and_(mine.c.chat_id == chats.c.id, mine.c.user_id == sa.bindparam("viewer")),
        isouter=everyone,
    ).join(
        last, sa.and_(last.c.chat_id == chats.c.id, last.c.seq == chats.c.last_seq), isouter=True
    )
    return (
        sa.select(
            chats.c.id,
            chats.c.name,
            chats.c.is_private,
            chats.c.owner_id,
            members_aggregate(dialect),
            chats.c.created_at,
            chats.c.last_message_at,
            chats.c.last_seq,
            mine.c.last_read_seq,
            mine.c.user_id,
            last.c.id,
            last.c.author_id,
            last.c.text,
            last.c.created_at,
            last.c.edited_at,
            last.c.deleted_at,
        )
        .select_from(joined)
        .order_by(chats.c.last_message_at.desc(), chats.c.id.desc())
    )


def _chat_info(row: sa.Row[*tuple[Any, ...]]) -> ChatInfo:
    (id_, name, is_private, owner, members, created_at, last_message_at, last_seq,
     read_seq, member, last_id, author, text, sent_at, edited_at, deleted_at) = row  # fmt: skip
    last = None
    if last_id is not None:
        last = Message(last_id, id_, last_seq, author, text, sent_at, edited_at, deleted_at)
    return ChatInfo(
        id=id_,
        name=name,
        is_private=bool(is_private),
        owner=owner,
        users=member_ids(members),
        created_at=created_at,
        last_message_at=last_message_at,
        last_seq=last_seq,
        last_read_seq=read_seq or 0,
        is_member=member is not None,
        last_message=last,
    )


def chat_infos(
    conn: sa.Connection,
    query: sa.Select[Any],
    viewer: UserId,
    limit: int,
    after: ChatListCursor | None,
) -> list[ChatInfo]:
    if after is not None:
        # Keyset on (activity time, id): stable while messages arrive, no offset to skip.
        query = query.where(
            sa.or_(
                chats.c.last_message_at < after.last_message_at,
                sa.and_(
                    chats.c.last_message_at == after.last_message_at,
                    chats.c.id < after.chat_id,
                ),
            )
        )
    rows = conn.execute(query.limit(limit), {"viewer": viewer}).all()
    return [_chat_info(row) for row in rows]


def chat_infos_by_id(
    conn: sa.Connection, query: sa.Select[Any], chat_ids: Sequence[ChatId]
) -> dict[ChatId, ChatInfo]:
    """The chats among `chat_ids` as a non-member sees them (`query`: every chat's)."""
    rows = conn.execute(
        query.where(chats.c.id.in_(sa.bindparam("chats", expanding=True))),
        {"viewer": None, "chats": list(chat_ids)},
    ).all()
    return {info.id: info for info in map(_chat_info, rows)}


def find_chat_info(
    conn: sa.Connection, query: sa.Select[Any], viewer: UserId, chat: ChatId
) -> ChatInfo | None:
    row = conn.execute(query.where(chats.c.id == chat), {"viewer": viewer}).first()
    return None if row is None else _chat_info(row)


def update_chat(
    conn: sa.Connection,
    chat: ChatId,
    name: str | None,
    members: Sequence[UserId] | None,
    now: datetime,
) -> list[Change]:
    lock_chat(conn, chat)
    if name is not None:
        conn.execute(chats.update().where(chats.c.id == chat).values(name=name))
    changed = [Change(events.CHAT_UPDATED, chat)]
    if members is not None:
        require_users(conn, members)
        current = set(_member_ids(conn, chat))
        gone = current - set(members)
        if gone:
            conn.execute(
                chat_members.delete().where(
                    chat_members.c.chat_id == chat, chat_members.c.user_id.in_(gone)
                )
            )
        added = [u for u in members if u not in current]
        _add_members(conn, chat, added, now)
        changed += events.for_users(events.MEMBER_ADDED, chat, set(added))
        changed += events.for_users(events.MEMBER_REMOVED, chat, gone)
    return changed


def chat_ids_of(conn: sa.Connection, user: UserId) -> list[ChatId]:
    query = sa.select(chat_members.c.chat_id).where(chat_members.c.user_id == user)
    return list(conn.execute(query).scalars())


def _member_ids(conn: sa.Connection, chat: ChatId) -> list[UserId]:
    query = sa.select(chat_members.c.user_id).where(chat_members.c.chat_id == chat)
    return list(conn.execute(query).scalars())


def update_chat_for(
    conn: sa.Connection,
    query: sa.Select[Any],
    chat: ChatId,
    name: str | None,
    members: Sequence[UserId] | None,
    now: datetime,
    viewer: UserId,
) -> Written[ChatInfo]:
    """update_chat, then the chat as `viewer` sees it, in the same transaction."""
    changed = update_chat(conn, chat, name, members, now)
    return Written(_info_after_write(conn, query, viewer, chat), changed)


def leave_chat(conn: sa.Connection, chat: ChatId, user: UserId) -> Written[None]:
    lock_chat(conn, chat)
    conn.execute(
        chat_members.delete().where(chat_members.c.chat_id == chat, chat_members.c.user_id == user)
    )
    # The longest-standing member takes over, preferring one who is not blocked.
    successor = conn.execute(
        sa.select(chat_members.c.user_id)
        .join(users, users.c.id == chat_members.c.user_id)
        .where(chat_members.c.chat_id == chat)
        .order_by(
            users.c.blocked_at.is_not(None), chat_members.c.created_at, chat_members.c.user_id
        )
        .limit(1)
    ).scalar()
    if successor is None:
        # The leaver hears of the deletion too (they were its last member).
        return Written(
            None, [Change(events.CHAT_DELETED, chat, user), *delete_chat(conn, chat).changes]
        )
    conn.execute(
        chats.update()
        .where(chats.c.id == chat, chats.c.owner_id == user)
        .values(owner_id=successor)
    )
    return Written(
        None, [Change(events.MEMBER_REMOVED, chat, user), Change(events.CHAT_UPDATED, chat)]
    )


def delete_chat(conn: sa.Connection, chat: ChatId) -> Written[None]:
    lock_chat(conn, chat)
    members = _member_ids(conn, chat)
    # Explicit rather than by foreign-key cascade: the same on every database and connection.
    conn.execute(messages.delete().where(messages.c.chat_id == chat))
    conn.execute(chat_members.delete().where(chat_members.c.chat_id == chat))
    conn.execute(chats.delete().where(chats.c.id == chat))
    # Addressed to each member: once the chat is gone, nobody is its member any more.
    return Written(None, events.chat_deleted(chat, set(members)))


def mark_read(conn: sa.Connection, chat: ChatId, user: UserId, seq: int) -> int:
    last_seq = sa.select(chats.c.last_seq).where(chats.c.id == chat).scalar_subquery()
    target = sa.case((last_seq < seq, last_seq), else_=seq)
    marker = conn.execute(
        chat_members.update()
        .where(chat_members.c.chat_id == chat, chat_members.c.user_id == user)
        .values(
            last_read_seq=sa.case(
                (chat_members.c.last_read_seq < target, target),
                else_=chat_members.c.last_read_seq,
            )
        )
        .returning(chat_members.c.last_read_seq)
    ).scalar()
    return int(marker or 0)


def mark_read_for(
    conn: sa.Connection, query: sa.Select[Any], chat: ChatId, user: UserId, seq: int
) -> Written[ChatInfo]:
    """mark_read, then the chat as the user sees it, in the same transaction."""
    marker = mark_read(conn, chat, user, seq)
    info = _info_after_write(conn, query, user, chat)
    return Written(info, [Change(events.CHAT_READ, chat, user, seq=marker)])


def post_direct(
    conn: sa.Connection,
    post: Callable[[sa.Connection, ChatId, UserId, str, datetime], Written[Message]],
    author: UserId,
    to: UserId,
    text: str,
    now: datetime,
) -> Written[Message]:
    """Sends to the pair's private chat, creating it first if needed: one transaction, so a
    refused send leaves no empty chat behind."""
    chat, created = direct_chat(conn, author, to, now)
    sent, posted = post(conn, chat, author, text, now)
    return Written(sent, created + posted)


def direct_chat(conn: sa.Connection, one: UserId, other: UserId, now: datetime) -> Written[ChatId]:
    low, high = sorted((one, other))
    found = conn.execute(
        sa.select(chats.c.id).where(chats.c.direct_low == low, chats.c.direct_high == high)
    ).scalar()
    if found is not None:
        return Written(int(found), [])
    require_users(conn, [low, high])
    values = {
        "name": None,
        "created_at": now,
        "last_message_at": now,
        "is_private": True,
        "direct_low": low,
        "direct_high": high,
    }
    chat_id = insert_id(conn, chats, values)
    _add_members(conn, chat_id, [low, high], now)
    return Written(chat_id, events.chat_created(chat_id, {low, high}))
