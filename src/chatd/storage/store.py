"""SqlStore: the core's Store port over SQL, one implementation for both databases.

Reads are plain functions of a `Connection` (accounts.py, chats.py, messages.py, changes.py),
run by `Database.read` in one snapshot, or, for the Avito listings, one statement on the driver
(documents.py). Every write is `write(receipt, do_x, ...)`: the core's do_* function
(core/writes.py) runs in the group commit (groupcommit.py), which logs its changes, records
its receipt, commits and publishes. Nothing else writes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Sequence
from datetime import datetime
from typing import Any

from chatd.core.errors import ChatNotFound, InvalidInput, UserNotFound
from chatd.core.events import ChatState, LogPage
from chatd.core.idempotency import Receipt
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
    SeqPage,
    UserId,
)
from chatd.core.ports import Notifier
from chatd.core.search import Search
from chatd.storage import accounts, changes, chats, documents, idempotency, messages, search
from chatd.storage.database import BOUNDED_SECONDS, Database, TooCostly
from chatd.storage.groupcommit import GroupCommit, Job
from chatd.storage.lookups import exists
from chatd.storage.tables import users


class SqlChangeLog:
    """The change log's reads: what the real-time hub follows, and each stream reads."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._all_chat_infos = chats.chat_info_query(db.sql, everyone=True)

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


class SqlStore(SqlChangeLog):
    def __init__(
        self, db: Database, notifier: Notifier | None = None, lanes: int | None = None
    ) -> None:
        """`notifier` hears of every commit's changes (the real-time hub), if given; `lanes`:
        how many groups of writes may be in the database at once (default: the dialect's)."""
        super().__init__(db)
        self.commits = GroupCommit(db, notifier, lanes)
        self._my_chat_infos = chats.chat_info_query(db.sql, everyone=False)
        self._word_shares = search.WordShares()

    async def write(self, receipt: Receipt | None, work: Any, /, *args: Any, **kwargs: Any) -> Any:
        return await self.commits.submit(Job(receipt, work, args, kwargs))

    async def close(self) -> None:
        """Finishes the writes under way: call it before the database is disposed of."""
        await self.commits.close()

    # Accounts

    async def get_account(self, user: UserId) -> Account:
        return await self.db.read(accounts.get_account, user)

    async def find_account(self, username_key: str) -> Account | None:
        return await self.db.read(accounts.find_account, username_key)

    async def accounts_by_id(self, ids: Sequence[UserId]) -> list[Account]:
        return await self.db.read(accounts.accounts_by_id, ids)

    async def list_accounts(self, key_prefix: str = "", limit: int | None = None) -> list[Account]:
        return await self.db.read(accounts.list_accounts, self.db.sql, key_prefix, limit)

    async def find_credentials(self, username_key: str) -> Credentials | None:
        return await self.db.read(accounts.find_credentials, username_key)

    async def find_caller(self, token_hash: str, now: datetime) -> Caller | None:
        return await self.db.read(accounts.find_caller, token_hash, now)

    # Chats

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

    # Messages

    async def messages_document(self, chat: ChatId, page: Page) -> bytes:
        return await documents.messages_page(self.db, chat, page)

    async def history_documents(self, chat: ChatId, batch: int) -> AsyncIterator[bytes]:
        last_seq = await self.db.read(messages.last_seq, chat)
        if last_seq is None:
            raise ChatNotFound(chat)
        # Slices of `batch` seqs: seqs are dense in a chat, so each slice is one index range.
        for from_seq in range(0, last_seq, batch):
            to_seq = min(from_seq + batch, last_seq)
            found = await documents.history_slice(self.db, chat, from_seq, to_seq)
            if found is not None:
                yield found

    async def history_page(self, chat: ChatId, page: SeqPage) -> list[Message]:
        return await self.db.read(messages.history_page, chat, page)

    async def find_message(self, message: MessageId) -> Message | None:
        return await self.db.read(messages.find_message, message)

    async def search_messages(self, query: Search) -> list[Message]:
        try:
            return await self.db.read_bounded(
                search.search_messages, self.db.sql, query, self._word_shares
            )
        except TooCostly as exc:
            raise InvalidInput(
                f"the search took longer than {BOUNDED_SECONDS:.0f} s: add a word, or search "
                "one chat or one author",
                code="search_too_broad",
            ) from exc

    # Idempotency keys

    async def find_idempotency_record(
        self, user: UserId, key: str, expired_before: datetime
    ) -> IdempotencyRecord | None:
        return await self.db.read(idempotency.find, user, key, expired_before)
