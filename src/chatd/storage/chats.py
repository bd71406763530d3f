"""Chats as rows: the v1 listings as a viewer sees them, and the stored Avito listing entries
that the writes keep up to date (storage/records.py). The writes themselves are in
storage/transaction.py, decided by core/writes.py."""

from __future__ import annotations

import functools
from collections.abc import Collection, Sequence
from typing import Any

import orjson
import sqlalchemy as sa

from chatd.core.models import ChatId, ChatInfo, ChatListCursor, Message, UserId
from chatd.storage.dialects import Dialect
from chatd.storage.records import chat_head
from chatd.storage.tables import chat_members, chats, message_mentions, messages


def member_ids(value: Any) -> list[UserId]:
    if isinstance(value, str):
        # SQLite does not promise an order inside an aggregate.
        return sorted(orjson.loads(value))
    return value or []


@functools.cache
def chat_info_query(sql: Dialect, *, everyone: bool) -> sa.Select[Any]:
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
            sql.member_list(),
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
            unread_mentions(mine),
        )
        .select_from(joined)
        .order_by(chats.c.last_message_at.desc(), chats.c.id.desc())
    )


def _chat_info(row: sa.Row[*tuple[Any, ...]]) -> ChatInfo:
    (id_, name, is_private, owner, members, created_at, last_message_at, last_seq,
     read_seq, member, last_id, author, text, sent_at, edited_at, deleted_at,
     mention_count) = row  # fmt: skip
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
        mention_count=mention_count,
    )


def unread_mentions(member: sa.FromClause) -> sa.ScalarSelect[Any]:
    """How many of the chat's messages after `member`'s read marker mention them: a range of
    message_mentions' (user_id, chat_id, seq) index, empty for most chats (0 where `member` is
    no row: a moderator who is not a member)."""
    return (
        sa.select(sa.func.count())
        .select_from(message_mentions)
        .where(
            message_mentions.c.user_id == member.c.user_id,
            message_mentions.c.chat_id == member.c.chat_id,
            message_mentions.c.seq > member.c.last_read_seq,
        )
        .scalar_subquery()
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


def chat_ids_of(conn: sa.Connection, user: UserId) -> list[ChatId]:
    query = sa.select(chat_members.c.chat_id).where(chat_members.c.user_id == user)
    return list(conn.execute(query).scalars())


_HEADS = sa.select(chats.c.id, chats.c.name, chats.c.created_at).where(
    chats.c.id.in_(sa.bindparam("chats", expanding=True))
)
_MEMBERS = (
    sa.select(chat_members.c.chat_id, chat_members.c.user_id)
    .where(chat_members.c.chat_id.in_(sa.bindparam("chats", expanding=True)))
    .order_by(chat_members.c.chat_id, chat_members.c.user_id)
)
_SET_HEAD = (
    chats.update()
    .where(chats.c.id == sa.bindparam("chat_id"))
    .values(head=sa.bindparam("new_head"))
)


def refresh_heads(conn: sa.Connection, chat_ids: Collection[ChatId]) -> None:
    """Rewrites the stored listing entries (storage/records.py) of these chats, as they are now
    in this transaction: written by every write that names, creates or changes the members of
    a chat, so that `chats/get` only joins them."""
    wanted = sorted(chat_ids)
    found = conn.execute(_HEADS, {"chats": wanted}).all()
    if not found:
        return
    members: dict[ChatId, list[UserId]] = {chat: [] for chat, *_rest in found}
    for chat, user in conn.execute(_MEMBERS, {"chats": wanted}):
        members[chat].append(user)
    rows = [
        {"chat_id": chat, "new_head": chat_head(chat, name, members[chat], created_at)}
        for chat, name, created_at in found
    ]
    conn.execute(_SET_HEAD, rows)
