"""What the core needs from the outside world.

storage/store.py implements `Store` over SQL; passwords.py implements `PasswordHasher` with
argon2. Each store method is one transaction; rule violations come back as core errors. A
write also records the pending idempotent request, if any, in its transaction
(core/idempotency.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from datetime import datetime
from typing import Protocol

from chatd.core.events import ChatState, LogPage
from chatd.core.idempotency import Receipt, Reply
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


class PasswordHasher(Protocol):
    """Slow on purpose (argon2id): the core calls it off the event loop."""

    def hash(self, password: str) -> str: ...

    def verify(self, password_hash: str, password: str) -> bool: ...


class AccountStore(Protocol):
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
        """Raises UsernameTaken when `username_key` is in use."""
        ...

    async def get_account(self, user: UserId) -> Account:
        """Raises UserNotFound."""
        ...

    async def find_account(self, username_key: str) -> Account | None: ...

    async def accounts_by_id(self, ids: Sequence[UserId]) -> list[Account]:
        """The accounts among `ids`, in id order; ids of nobody are left out."""
        ...

    async def list_accounts(self, key_prefix: str = "", limit: int | None = None) -> list[Account]:
        """Accounts whose username key starts with `key_prefix` (taken literally: `%` and `_`
        are no wildcards), ordered by the key; all of them when `limit` is None."""
        ...

    async def find_credentials(self, username_key: str) -> Credentials | None: ...

    async def set_password_hash(self, user: UserId, password_hash: str) -> None: ...

    async def set_role(self, user: UserId, role: Role) -> None: ...

    async def set_blocked(self, user: UserId, blocked_at: datetime | None) -> None:
        """Blocking also revokes all the user's tokens. Raises UserNotFound."""
        ...

    async def add_token(
        self, user: UserId, token_hash: str, now: datetime, expires_at: datetime
    ) -> None: ...

    async def find_caller(self, token_hash: str, now: datetime) -> Caller | None:
        """The token's owner, if the token is unexpired and its owner not blocked."""
        ...

    async def delete_token(self, token_id: int) -> None: ...


class ChatStore(Protocol):
    async def create_chat(
        self, name: str, users: Sequence[UserId], now: datetime, *, owner: UserId | None = None
    ) -> ChatId:
        """Raises ChatNameTaken, or UserNotFound naming every missing user (nothing created)."""
        ...

    async def create_group(
        self, name: str, users: Sequence[UserId], now: datetime, owner: UserId
    ) -> ChatInfo:
        """A chat owned by `owner`, as the owner sees it. Raises ChatNameTaken or
        UserNotFound."""
        ...

    async def user_chats_document(self, user: UserId) -> bytes:
        """The user's chats as a JSON array of {id, name, users, created_at, last_message_at},
        latest activity first (ties: higher id first). Raises UserNotFound."""
        ...

    async def chat_infos(
        self, viewer: UserId, *, everyone: bool, limit: int, after: ChatListCursor | None
    ) -> list[ChatInfo]:
        """Chats as `viewer` sees them, latest activity first: theirs, or all (`everyone`)."""
        ...

    async def find_chat_info(self, viewer: UserId, chat: ChatId) -> ChatInfo | None: ...

    async def update_chat(
        self,
        chat: ChatId,
        name: str | None,
        users: Sequence[UserId] | None,
        now: datetime,
        viewer: UserId,
    ) -> ChatInfo:
        """Renames and/or sets the member list; the chat as `viewer` then sees it. Raises
        ChatNotFound, ChatNameTaken or UserNotFound."""
        ...

    async def leave_chat(self, chat: ChatId, user: UserId) -> None:
        """Removes the member; ownership passes to the longest-standing member left, and a
        chat nobody is left in is deleted."""
        ...

    async def delete_chat(self, chat: ChatId) -> None:
        """The chat with its messages and memberships, in one transaction."""
        ...

    async def mark_read(self, chat: ChatId, user: UserId, seq: int) -> ChatInfo:
        """Moves the user's read marker forward to `seq` (at most the last seq); the chat as
        the user then sees it."""
        ...


class MessageStore(Protocol):
    async def post_message(self, chat: ChatId, author: UserId, text: str, now: datetime) -> Message:
        """Appends to the chat's history, moves its activity time and the author's read marker,
        in one transaction. Raises ChatNotFound, UserNotFound, UserBlocked or NotAMember."""
        ...

    async def post_direct(self, author: UserId, to: UserId, text: str, now: datetime) -> Message:
        """Sends to the private chat of the pair, created in the same transaction on first use
        (never two for one pair). Raises UserNotFound or UserBlocked."""
        ...

    async def messages_document(self, chat: ChatId, page: Page) -> bytes:
        """One page of history without tombstones, oldest first, as a JSON array of
        {id, chat, author, text, created_at}. Raises ChatNotFound or MessageNotFound (cursor)."""
        ...

    def history_documents(self, chat: ChatId, batch: int) -> AsyncIterator[bytes]:
        """The whole history (no tombstones) up to the chat's last message when iteration
        starts, oldest first, as JSON arrays of the Avito API's messages, each of at most
        `batch` messages and none empty. ChatNotFound is raised when the first is asked for."""
        ...

    async def history_page(self, chat: ChatId, page: SeqPage) -> list[Message]:
        """Up to page.limit messages by seq, tombstones included, oldest first: just after
        after_seq if given, else the newest (just before before_seq if given)."""
        ...

    async def find_message(self, message: MessageId) -> Message | None: ...

    async def edit_message(self, message: MessageId, text: str, now: datetime) -> Message: ...

    async def delete_message(self, message: MessageId, now: datetime) -> None: ...


class IdempotencyStore(Protocol):
    async def find_idempotency_record(
        self, user: UserId, key: str, expired_before: datetime
    ) -> IdempotencyRecord | None:
        """The live record of the user's key, if any."""
        ...

    async def keep_idempotency_record(
        self, receipt: Receipt, reply: Reply
    ) -> IdempotencyRecord | None:
        """Records the reply of a request that wrote nothing (a refusal); None when recorded,
        else the live record that holds the key."""
        ...

    async def purge_idempotency_keys(self, before: datetime) -> int: ...


class ChangeLog(Protocol):
    async def read_log(self, after: int, limit: int) -> LogPage:
        """Up to `limit` changes after `after`, whoever they are for, oldest first."""
        ...

    async def read_user_log(
        self, user: UserId, after: int, limit: int, *, everyone: bool
    ) -> LogPage:
        """Up to `limit` of the user's changes after `after`, oldest first: those addressed to
        the user, and those of the chats the user is a member of now, from their joining on
        (with `everyone`, a moderator's: every chat's)."""
        ...

    async def chat_states(self, chat_ids: Collection[ChatId]) -> dict[ChatId, ChatState]:
        """The chats among `chat_ids` that exist, as they are now, with their members."""
        ...

    async def change_positions(self) -> tuple[int, int]:
        """The log's last position given out, and the last one pruned."""
        ...

    async def user_chat_ids(self, user: UserId) -> list[ChatId]: ...

    async def prune_changes(self, before: datetime) -> int:
        """Forgets a batch of the oldest changes logged before `before`; how many."""
        ...


class Notifier(Protocol):
    """Told after each commit which topics (core/events.py) got changes, up to which pos."""

    async def publish(self, topics: Iterable[str], pos: int) -> None: ...


class Store(AccountStore, ChatStore, MessageStore, IdempotencyStore, ChangeLog, Protocol):
    """Everything the core stores."""
