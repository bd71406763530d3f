"""SqlStore: the core's Store port over SQLAlchemy Core, one implementation for both databases.

Each operation is a plain function of a `Connection` (in accounts.py, chats.py, history.py);
`Database.read`/`write` decide where and in which transaction it runs (database.py). Statements
are built once with bind parameters, so a request only binds values. Driver errors (unique
violations) become core errors here and nowhere else.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime

import sqlalchemy as sa

from chatd.core.errors import ChatNameTaken, ChatNotFound, UsernameTaken, UserNotFound
from chatd.core.models import (
    Account,
    Caller,
    ChatId,
    ChatInfo,
    ChatListCursor,
    Credentials,
    IdempotencyRecord,
    Message,
    MessageId,
    Page,
    Role,
    SeqPage,
    UserId,
)
from chatd.storage import accounts, chats, documents, history, idempotency
from chatd.storage.database import Database
from chatd.storage.lookups import exists, insert_id
from chatd.storage.tables import users


class SqlStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        one_statement = db.dialect == "postgresql"
        self._post = history.post_one_statement if one_statement else history.post_three_statements
        self._write_post = db.write_one if one_statement else db.write
        self._my_chat_infos = chats.chat_info_query(db.dialect, everyone=False)
        self._all_chat_infos = chats.chat_info_query(db.dialect, everyone=True)

    # Accounts

    async def add_user(
        self,
        username: str,
        username_key: str,
        now: datetime,
        *,
        password_hash: str | None = None,
        email: str | None = None,
        role: Role = "user",
    ) -> UserId:
        values = {
            "username": username,
            "username_key": username_key,
            "created_at": now,
            "password_hash": password_hash,
            "email": email,
            "role": role,
        }
        try:
            return await self.db.write(insert_id, users, values)
        except sa.exc.IntegrityError as exc:
            raise UsernameTaken(username) from exc

    async def get_account(self, user: UserId) -> Account:
        return await self.db.read(accounts.get_account, user)

    async def find_account(self, username_key: str) -> Account | None:
        return await self.db.read(accounts.find_account, username_key)

    async def find_credentials(self, username_key: str) -> Credentials | None:
        return await self.db.read(accounts.find_credentials, username_key)

    async def set_password_hash(self, user: UserId, password_hash: str) -> None:
        await self.db.write(accounts.update_user, user, password_hash=password_hash)

    async def set_role(self, user: UserId, role: Role) -> None:
        await self.db.write(accounts.update_user, user, role=role)

    async def set_blocked(self, user: UserId, blocked_at: datetime | None) -> None:
        await self.db.write(accounts.set_blocked, user, blocked_at)

    async def add_token(
        self, user: UserId, token_hash: str, now: datetime, expires_at: datetime
    ) -> None:
        await self.db.write(accounts.add_token, user, token_hash, now, expires_at)

    async def find_caller(self, token_hash: str, now: datetime) -> Caller | None:
        return await self.db.read(accounts.find_caller, token_hash, now)

    async def delete_token(self, token_id: int) -> None:
        await self.db.write(accounts.delete_token, token_id)

    # Chats

    async def create_chat(
        self, name: str, users_: Sequence[UserId], now: datetime, *, owner: UserId | None = None
    ) -> ChatId:
        try:
            return await self.db.write(chats.create_chat, name, users_, now, owner)
        except sa.exc.IntegrityError as exc:
            raise ChatNameTaken(name) from exc

    async def user_chats_document(self, user: UserId) -> bytes:
        found = await self.db.read(documents.user_chats, self.db.dialect, user)
        if found is None:
            if not await self.db.read(exists, users, user):
                raise UserNotFound([user])
            return b"[]"
        return found

    async def chat_infos(
        self, viewer: UserId, *, everyone: bool, limit: int, after: ChatListCursor | None
    ) -> list[ChatInfo]:
        query = self._all_chat_infos if everyone else self._my_chat_infos
        return await self.db.read(chats.chat_infos, query, viewer, limit, after)

    async def find_chat_info(self, viewer: UserId, chat: ChatId) -> ChatInfo | None:
        return await self.db.read(chats.find_chat_info, self._all_chat_infos, viewer, chat)

    async def update_chat(
        self, chat: ChatId, name: str | None, users_: Sequence[UserId] | None, now: datetime
    ) -> None:
        try:
            await self.db.write(chats.update_chat, chat, name, users_, now)
        except sa.exc.IntegrityError as exc:
            raise ChatNameTaken(name or "") from exc

    async def leave_chat(self, chat: ChatId, user: UserId) -> None:
        await self.db.write(chats.leave_chat, chat, user)

    async def delete_chat(self, chat: ChatId) -> None:
        await self.db.write(chats.delete_chat, chat)

    async def mark_read(self, chat: ChatId, user: UserId, seq: int) -> int:
        return await self.db.write(chats.mark_read, chat, user, seq)

    async def direct_chat(self, one: UserId, other: UserId, now: datetime) -> ChatId:
        try:
            return await self.db.write(chats.direct_chat, one, other, now)
        except sa.exc.IntegrityError:
            # Another request created the pair's chat first: the unique pair says so.
            return await self.db.write(chats.direct_chat, one, other, now)

    # Messages

    async def post_message(self, chat: ChatId, author: UserId, text: str, now: datetime) -> Message:
        return await self._write_post(self._post, chat, author, text, now)

    async def messages_document(self, chat: ChatId, page: Page) -> bytes:
        return await self.db.read(documents.messages_page, self.db.dialect, chat, page)

    async def stream_messages(self, chat: ChatId, batch: int) -> AsyncIterator[list[Message]]:
        last_seq = await self.db.read(history.last_seq, chat)
        if last_seq is None:
            raise ChatNotFound(chat)
        from_seq = 0
        while True:
            rows = await self.db.read(history.batch, chat, from_seq, last_seq, batch)
            yield rows
            if len(rows) < batch:
                return
            from_seq = rows[-1].seq

    async def history_page(self, chat: ChatId, page: SeqPage) -> list[Message]:
        return await self.db.read(history.history_page, chat, page)

    async def find_message(self, message: MessageId) -> Message | None:
        return await self.db.read(history.find_message, message)

    async def edit_message(self, message: MessageId, text: str, now: datetime) -> Message:
        return await self.db.write(history.edit_message, message, text, now)

    async def delete_message(self, message: MessageId, now: datetime) -> None:
        await self.db.write(history.delete_message, message, now)

    # Idempotency keys

    async def claim_idempotency_key(
        self,
        user: UserId,
        key: str,
        fingerprint: str,
        now: datetime,
        expired_before: datetime,
        stale_before: datetime,
    ) -> IdempotencyRecord | None:
        args = (user, key, fingerprint, now, expired_before, stale_before)
        try:
            return await self.db.write(idempotency.claim, *args)
        except sa.exc.IntegrityError:
            # A concurrent twin inserted the key first: now it is in the way.
            return await self.db.write(idempotency.claim, *args)

    async def finish_idempotency_key(
        self, user: UserId, key: str, status: int, body: bytes
    ) -> None:
        await self.db.write(idempotency.finish, user, key, status, body)

    async def release_idempotency_key(self, user: UserId, key: str) -> None:
        await self.db.write(idempotency.release, user, key)

    async def purge_idempotency_keys(self, before: datetime) -> int:
        return await self.db.write(idempotency.purge, before)
