"""One write's transaction, as the core's do_* functions see it (core/ports.py's Transaction).

Plain reads and writes of rows: what to change, and which events that makes, is decided in
core/writes.py. Driver errors that mean a rule (a unique name) become core errors here.

Lock order, the same in every write (PostgreSQL would otherwise deadlock two writes that take
the same rows the other way round): the chat's row first (`lock_chat`, or a batch of sends' lock
of its chats in id order), then its members' rows, then its messages; the change log's row last
of all (storage/changes.py). Taking the chat's row first also serializes membership changes of
one chat (two concurrent member updates, or the last two members leaving at once).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from chatd.core.clock import rfc3339
from chatd.core.errors import (
    ChatdError,
    ChatNameTaken,
    ChatNotFound,
    NotAMember,
    UserBlocked,
    UserNotFound,
)
from chatd.core.idempotency import Receipt, Reply
from chatd.core.models import ChatId, ChatInfo, Message, MessageId, Quote, Reaction, UserId
from chatd.core.ports import Member, NewMessage, NewUser
from chatd.storage import changes, idempotency, reactions
from chatd.storage import messages as history
from chatd.storage.chats import chat_info_query, find_chat_info
from chatd.storage.dialects import Dialect
from chatd.storage.lookups import exists, insert_id, require_users
from chatd.storage.tables import (
    auth_tokens,
    chat_members,
    chats,
    message_mentions,
    message_reactions,
    messages,
    users,
)


class SqlTransaction:
    def __init__(self, conn: sa.Connection, sql: Dialect) -> None:
        self.conn = conn
        self.sql = sql

    # Accounts

    def insert_users(self, users_: Sequence[NewUser]) -> list[UserId | ChatdError]:
        return self.sql.insert_users(self.conn, users_)

    def update_user(self, user: UserId, **values: object) -> None:
        done = self.conn.execute(users.update().where(users.c.id == user).values(**values))
        if done.rowcount == 0:
            raise UserNotFound([user])

    def insert_token(
        self, user: UserId, token_hash: str, now: datetime, expires_at: datetime
    ) -> None:
        values = {
            "user_id": user,
            "token_hash": token_hash,
            "created_at": now,
            "expires_at": expires_at,
        }
        self.conn.execute(auth_tokens.insert(), values)

    def delete_token(self, token_id: int) -> None:
        self.conn.execute(auth_tokens.delete().where(auth_tokens.c.id == token_id))

    def delete_tokens(self, user: UserId) -> None:
        self.conn.execute(auth_tokens.delete().where(auth_tokens.c.user_id == user))

    # Chats

    def require_users(self, users_: Sequence[UserId]) -> None:
        require_users(self.conn, users_)

    def insert_chat(
        self, name: str, now: datetime, owner: UserId | None, *, from_avito: bool
    ) -> ChatId:
        values = {
            "name": name,
            "created_at": now,
            "last_message_at": now,
            "owner_id": owner,
            "from_avito": from_avito,
        }
        return int(self._named(name, lambda: insert_id(self.conn, chats, _with_time(values, now))))

    def find_direct_chat(self, low: UserId, high: UserId) -> ChatId | None:
        query = sa.select(chats.c.id).where(chats.c.direct_low == low, chats.c.direct_high == high)
        found = self.conn.execute(query).scalar()
        return None if found is None else int(found)

    def insert_direct_chat(self, low: UserId, high: UserId, now: datetime) -> tuple[ChatId, bool]:
        values = {
            "name": None,
            "created_at": now,
            "last_message_at": now,
            "is_private": True,
            "direct_low": low,
            "direct_high": high,
        }
        # A concurrent first send to the same pair inserts too: this one then waits for it
        # (PostgreSQL) and inserts nothing, and the next statement finds its chat.
        insert = (
            self.sql.insert(chats)
            .values(_with_time(values, now))
            .on_conflict_do_nothing(index_elements=[chats.c.direct_low, chats.c.direct_high])
            .returning(chats.c.id)
        )
        created = self.conn.execute(insert).scalar()
        if created is not None:
            return int(created), True
        found = self.find_direct_chat(low, high)
        assert found is not None
        return found, False

    def lock_chat(self, chat: ChatId) -> UserId | None:
        # On SQLite, FOR UPDATE is not rendered: the one writer already serializes writes.
        query = sa.select(chats.c.owner_id).where(chats.c.id == chat).with_for_update()
        row = self.conn.execute(query).first()
        if row is None:
            raise ChatNotFound(chat)
        return None if row.owner_id is None else int(row.owner_id)

    def rename_chat(self, chat: ChatId, name: str) -> None:
        update = chats.update().where(chats.c.id == chat).values(name=name)
        self._named(name, lambda: self.conn.execute(update))

    def _named(self, name: str, write: Any) -> Any:
        try:
            return write()
        except sa.exc.IntegrityError as exc:
            message = str(exc.orig)
            # PostgreSQL names the index; SQLite the column (only the partial index is on it).
            if "uq_chats_avito_name" in message or "chats.name" in message:
                raise ChatNameTaken(name) from exc
            raise

    def set_owner(self, chat: ChatId, owner: UserId) -> None:
        self.conn.execute(chats.update().where(chats.c.id == chat).values(owner_id=owner))

    def member_ids(self, chat: ChatId) -> list[UserId]:
        query = sa.select(chat_members.c.user_id).where(chat_members.c.chat_id == chat)
        return list(self.conn.execute(query).scalars())

    def members_by_seniority(self, chat: ChatId) -> list[Member]:
        query = (
            sa.select(chat_members.c.user_id, users.c.blocked_at.is_not(None))
            .join(users, users.c.id == chat_members.c.user_id)
            .where(chat_members.c.chat_id == chat)
            .order_by(chat_members.c.created_at, chat_members.c.user_id)
        )
        return [Member(int(user), bool(blocked)) for user, blocked in self.conn.execute(query)]

    def add_members(self, chat: ChatId, users_: Sequence[UserId], now: datetime) -> None:
        if users_:
            rows = [{"chat_id": chat, "user_id": user, "created_at": now} for user in users_]
            self.conn.execute(chat_members.insert(), rows)

    def remove_members(self, chat: ChatId, users_: Collection[UserId]) -> None:
        if users_:
            self.conn.execute(
                chat_members.delete().where(
                    chat_members.c.chat_id == chat, chat_members.c.user_id.in_(sorted(users_))
                )
            )

    def delete_chat(self, chat: ChatId) -> None:
        # Explicit rather than by foreign-key cascade: the same on every database and connection.
        for table in (message_reactions, message_mentions, messages):
            self.conn.execute(table.delete().where(table.c.chat_id == chat))
        self.conn.execute(chat_members.delete().where(chat_members.c.chat_id == chat))
        self.conn.execute(chats.delete().where(chats.c.id == chat))

    def mark_read(self, chat: ChatId, user: UserId, seq: int) -> int:
        last_seq = sa.select(chats.c.last_seq).where(chats.c.id == chat).scalar_subquery()
        target = sa.case((last_seq < seq, last_seq), else_=seq)
        marker = self.conn.execute(
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

    def chat_info(self, viewer: UserId, chat: ChatId) -> ChatInfo | None:
        return find_chat_info(self.conn, chat_info_query(self.sql, everyone=True), viewer, chat)

    # Messages

    def quotes(self, messages_: Collection[MessageId]) -> dict[MessageId, tuple[ChatId, Quote]]:
        return history.quotes(self.conn, messages_)

    def members_named(self, chat: ChatId, names: Collection[str]) -> dict[str, UserId]:
        return history.members_named(self.conn, chat, names)

    def insert_messages(self, sends: Sequence[NewMessage]) -> list[Message | None]:
        sent = self.sql.insert_messages(self.conn, sends)
        history.insert_mentions(self.conn, [m for m in sent if m is not None and m.mentions])
        return sent

    def refusal(self, chat: ChatId, author: UserId) -> ChatdError:
        # Reads only: the reason a send's checks matched no row.
        if not exists(self.conn, chats, chat):
            return ChatNotFound(chat)
        query = sa.select(users.c.blocked_at).where(users.c.id == author)
        blocked = self.conn.execute(query).first()
        if blocked is None:
            return UserNotFound([author])
        if blocked.blocked_at is not None:
            return UserBlocked(author)
        return NotAMember(author, chat)

    def edit_message(self, message: MessageId, text: str, now: datetime) -> Message | None:
        return history.edit(self.conn, message, text, now)

    def tombstone(self, message: MessageId, now: datetime) -> ChatId | None:
        return history.tombstone(self.conn, message, now)

    def set_mentions(self, message: Message, mentions: tuple[UserId, ...]) -> Message:
        return history.set_mentions(self.conn, message, mentions)

    def find_message(self, message: MessageId) -> Message | None:
        return history.find_message(self.conn, message)

    def is_member(self, chat: ChatId, user: UserId) -> bool:
        query = sa.select(sa.literal(1)).where(
            chat_members.c.chat_id == chat, chat_members.c.user_id == user
        )
        return self.conn.execute(query).first() is not None

    def set_reaction(
        self, message: Message, emoji: str, user: UserId, now: datetime, *, on: bool
    ) -> bool:
        return reactions.set_reaction(self.conn, self.sql, message, emoji, user, now, on=on)

    def reactions(self, message: MessageId) -> tuple[Reaction, ...]:
        return history.reactions(self.conn, message)

    # Housekeeping

    def record_reply(self, receipt: Receipt, reply: Reply) -> bool:
        return idempotency.record(self.conn, self.sql, receipt, reply)

    def prune_changes(self, before: datetime) -> int:
        return changes.prune(self.conn, before)

    def purge_idempotency_keys(self, before: datetime) -> int:
        return idempotency.purge(self.conn, before)


def _with_time(values: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A new chat's row with its stored listing time (storage/records.py)."""
    return {**values, "last_message_text": rfc3339(now)}
