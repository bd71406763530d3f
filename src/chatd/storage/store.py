"""SqlStore: the core's Store port over SQLAlchemy Core, one implementation for both databases.

Each operation is a plain function of a `Connection` (in accounts.py, chats.py, history.py);
`Database.read`/`write` decide where and in which transaction it runs (database.py). Statements
are built once with bind parameters, so a request only binds values. Driver errors (unique
violations) become core errors here and nowhere else.

Every write goes through `_write`, the one write path:

    work(conn, ...) -> Written(result, changes)     the change itself (accounts/chats/history.py)
    changes.append(...)                              its entries in the change log
    idempotency.record(...)                          the request's key and reply, if it has one
    COMMIT
    notifier.publish(topics, pos)                    only now: a listener may read the log at once
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection, Sequence
from datetime import datetime
from typing import Any, Concatenate, NamedTuple, ParamSpec, TypeVar, cast

import sqlalchemy as sa

from chatd.core import clock
from chatd.core.errors import (
    ChatNameTaken,
    ChatNotFound,
    IdempotencyKeyInUse,
    UsernameTaken,
    UserNotFound,
)
from chatd.core.events import Change, ChatState, LogPage, Written
from chatd.core.idempotency import Receipt, Reply, pending
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
from chatd.core.ports import Notifier
from chatd.storage import accounts, changes, chats, documents, history, idempotency, sqlite_hot
from chatd.storage.database import Database
from chatd.storage.lookups import exists, insert_id
from chatd.storage.sendbatch import SendBatcher
from chatd.storage.tables import users

P = ParamSpec("P")
T = TypeVar("T")


def _violates(exc: sa.exc.IntegrityError, table: str, column: str) -> bool:
    """Whether the unique constraint on table.column is what failed (constraints are named by
    the naming convention in tables.py; SQLite names the columns instead)."""
    message = str(exc.orig)
    return f"uq_{table}_{column}" in message or f"{table}.{column}" in message


class SqlStore:
    def __init__(self, db: Database, notifier: Notifier | None = None) -> None:
        self.db = db
        self.notifier = notifier
        one_statement = db.dialect == "postgresql"
        self._post = history.post_one_statement if one_statement else sqlite_hot.post
        # SQLite commits in groups on its writer thread already (storage/groupcommit.py).
        self._sends = SendBatcher(db, self._publish) if one_statement else None
        self._my_chat_infos = chats.chat_info_query(db.dialect, everyone=False)
        self._all_chat_infos = chats.chat_info_query(db.dialect, everyone=True)

    async def _write(
        self,
        work: Callable[Concatenate[sa.Connection, P], Written[T]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Runs `work`, logs its changes and, with an idempotent request pending, records its
        key and reply, all in one transaction; then publishes the changes. Raises
        IdempotencyKeyInUse (and writes nothing) when a request with the same key committed
        first."""
        receipt = pending.get()
        if receipt is not None and not receipt.wants_record():
            receipt = None
        done = await self.db.write(_transaction, receipt, work, *args, **kwargs)
        if receipt is not None:
            receipt.reply = done.reply
        if done.last_pos is not None:
            await self._publish(done.changes, done.last_pos)
        return cast(T, done.result)

    async def _publish(self, logged: list[Change], last_pos: int) -> None:
        if self.notifier is not None:
            await self.notifier.publish({c.topic for c in logged}, last_pos)

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
            return await self._write(_unlogged(insert_id), users, values)
        except sa.exc.IntegrityError as exc:
            raise UsernameTaken(username) from exc

    async def get_account(self, user: UserId) -> Account:
        return await self.db.read(accounts.get_account, user)

    async def find_account(self, username_key: str) -> Account | None:
        return await self.db.read(accounts.find_account, username_key)

    async def accounts_by_id(self, ids: Sequence[UserId]) -> list[Account]:
        return await self.db.read(accounts.accounts_by_id, ids)

    async def list_accounts(self, key_prefix: str = "", limit: int | None = None) -> list[Account]:
        return await self.db.read(accounts.list_accounts, key_prefix, limit)

    async def find_credentials(self, username_key: str) -> Credentials | None:
        return await self.db.read(accounts.find_credentials, username_key)

    async def set_password_hash(self, user: UserId, password_hash: str) -> None:
        await self._write(_unlogged(accounts.update_user), user, password_hash=password_hash)

    async def set_role(self, user: UserId, role: Role) -> None:
        await self._write(accounts.set_role, user, role)

    async def set_blocked(self, user: UserId, blocked_at: datetime | None) -> None:
        await self._write(accounts.set_blocked, user, blocked_at)

    async def add_token(
        self, user: UserId, token_hash: str, now: datetime, expires_at: datetime
    ) -> None:
        await self._write(_unlogged(accounts.add_token), user, token_hash, now, expires_at)

    async def find_caller(self, token_hash: str, now: datetime) -> Caller | None:
        return await self.db.read(accounts.find_caller, token_hash, now)

    async def delete_token(self, token_id: int) -> None:
        await self._write(_unlogged(accounts.delete_token), token_id)

    # Chats

    async def create_chat(
        self, name: str, users_: Sequence[UserId], now: datetime, *, owner: UserId | None = None
    ) -> ChatId:
        try:
            return await self._write(chats.create_chat, name, users_, now, owner)
        except sa.exc.IntegrityError as exc:
            if _violates(exc, "chats", "name"):
                raise ChatNameTaken(name) from exc
            raise

    async def create_group(
        self, name: str, users_: Sequence[UserId], now: datetime, owner: UserId
    ) -> ChatInfo:
        try:
            return await self._write(
                chats.create_group, self._all_chat_infos, name, users_, now, owner
            )
        except sa.exc.IntegrityError as exc:
            if _violates(exc, "chats", "name"):
                raise ChatNameTaken(name) from exc
            raise

    async def user_chats_document(self, user: UserId) -> bytes:
        found = await documents.user_chats(self.db, user)
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
        self,
        chat: ChatId,
        name: str | None,
        users_: Sequence[UserId] | None,
        now: datetime,
        viewer: UserId,
    ) -> ChatInfo:
        args = (self._all_chat_infos, chat, name, users_, now, viewer)
        try:
            return await self._write(chats.update_chat_for, *args)
        except sa.exc.IntegrityError as exc:
            if name is not None and _violates(exc, "chats", "name"):
                raise ChatNameTaken(name) from exc
            raise

    async def leave_chat(self, chat: ChatId, user: UserId) -> None:
        await self._write(chats.leave_chat, chat, user)

    async def delete_chat(self, chat: ChatId) -> None:
        await self._write(chats.delete_chat, chat)

    async def mark_read(self, chat: ChatId, user: UserId, seq: int) -> ChatInfo:
        return await self._write(chats.mark_read_for, self._all_chat_infos, chat, user, seq)

    # Messages

    async def post_message(self, chat: ChatId, author: UserId, text: str, now: datetime) -> Message:
        receipt = pending.get()
        if self._sends is not None and (receipt is None or not receipt.wants_record()):
            return await self._sends.post(chat, author, text, now)
        return await self._write(self._post, chat, author, text, now)

    async def post_direct(self, author: UserId, to: UserId, text: str, now: datetime) -> Message:
        args = (self._post, author, to, text, now)
        try:
            return await self._write(chats.post_direct, *args)
        except sa.exc.IntegrityError as exc:
            if not _violates(exc, "chats", "direct_low"):
                raise
            # Another request created the pair's chat first: now it is found, not made.
            return await self._write(chats.post_direct, *args)

    async def messages_document(self, chat: ChatId, page: Page) -> bytes:
        return await documents.messages_page(self.db, chat, page)

    async def history_documents(self, chat: ChatId, batch: int) -> AsyncIterator[bytes]:
        last_seq = await self.db.read(history.last_seq, chat)
        if last_seq is None:
            raise ChatNotFound(chat)
        # Slices of `batch` seqs: seqs are dense in a chat, so each slice is one index range.
        for from_seq in range(0, last_seq, batch):
            to_seq = min(from_seq + batch, last_seq)
            found = await documents.history_slice(self.db, chat, from_seq, to_seq)
            if found is not None:
                yield found

    async def history_page(self, chat: ChatId, page: SeqPage) -> list[Message]:
        return await self.db.read(history.history_page, chat, page)

    async def find_message(self, message: MessageId) -> Message | None:
        return await self.db.read(history.find_message, message)

    async def edit_message(self, message: MessageId, text: str, now: datetime) -> Message:
        return await self._write(history.edit_message, message, text, now)

    async def delete_message(self, message: MessageId, now: datetime) -> None:
        await self._write(history.delete_message, message, now)

    # Idempotency keys

    async def find_idempotency_record(
        self, user: UserId, key: str, expired_before: datetime
    ) -> IdempotencyRecord | None:
        return await self.db.read(idempotency.find, user, key, expired_before)

    async def keep_idempotency_record(
        self, receipt: Receipt, reply: Reply
    ) -> IdempotencyRecord | None:
        if await self.db.write(idempotency.record, receipt, reply):
            return None
        return await self.find_idempotency_record(receipt.user, receipt.key, receipt.expired_before)

    # The change log

    async def read_log(self, after: int, limit: int) -> LogPage:
        return await self.db.read(changes.tail, after, limit)

    async def read_user_log(
        self, user: UserId, after: int, limit: int, *, everyone: bool
    ) -> LogPage:
        return await self.db.read(changes.user_changes, user, after, limit, everyone)

    async def chat_states(self, chat_ids: Collection[ChatId]) -> dict[ChatId, ChatState]:
        return await self.db.read(changes.chat_states, self._all_chat_infos, chat_ids)

    async def change_positions(self) -> tuple[int, int]:
        return await self.db.read(changes.positions)

    async def user_chat_ids(self, user: UserId) -> list[ChatId]:
        return await self.db.read(chats.chat_ids_of, user)

    async def prune_changes(self, before: datetime) -> int:
        return await self.db.write(changes.prune, before)

    async def purge_idempotency_keys(self, before: datetime) -> int:
        return await self.db.write(idempotency.purge, before)


class _Done(NamedTuple):
    result: Any
    changes: list[Change]
    last_pos: int | None
    reply: Reply | None


def _transaction(
    conn: sa.Connection,
    receipt: Receipt | None,
    work: Callable[..., Written[Any]],
    *args: Any,
    **kwargs: Any,
) -> _Done:
    result, logged = work(conn, *args, **kwargs)
    reply = None
    if receipt is not None:
        assert receipt.render is not None
        reply = receipt.render(result)
        if not idempotency.record(conn, receipt, reply):
            raise IdempotencyKeyInUse(receipt.key)  # rolls the write back
    # Last: the log's position is taken under a lock held until commit (storage/changes.py).
    last_pos = changes.append(conn, logged, clock.now())
    return _Done(result, logged, last_pos, reply)


def _unlogged(work: Callable[P, T]) -> Callable[P, Written[T]]:
    """A write that changes nothing a stream shows (accounts, tokens)."""

    def logged(*args: P.args, **kwargs: P.kwargs) -> Written[T]:
        return Written(work(*args, **kwargs), [])

    return logged
