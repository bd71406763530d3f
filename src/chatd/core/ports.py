"""What the core needs from the outside world.

storage/store.py implements `Store` over SQL; passwords.py implements `PasswordHasher` with
argon2. Reads are methods of the store, each one consistent snapshot. Every write is one call,
`store.write(receipt, do_something, ...)`, of a `do_*` function of core/writes.py, which gets the
write's transaction as a `Transaction`: the core decides, storage stores.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Concatenate, Generic, NamedTuple, ParamSpec, Protocol, TypeVar, overload

from chatd.core.errors import ChatdError
from chatd.core.events import ChatState, LogPage, Written
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
    Quote,
    Reaction,
    SeqPage,
    UserId,
)

P = ParamSpec("P")
T = TypeVar("T")
I = TypeVar("I")  # noqa: E741


class PasswordHasher(Protocol):
    """Slow on purpose (argon2id): the core calls it off the event loop."""

    def hash(self, password: str) -> str: ...

    def verify(self, password_hash: str, password: str) -> bool: ...


class Send(NamedTuple):
    chat: ChatId
    author: UserId
    text: str
    now: datetime
    reply_to: MessageId | None = None
    names: tuple[str, ...] = ()  # the username keys its text mentions (core/mentions.py)


class NewMessage(NamedTuple):
    """A send as storage appends it: its reply checked and its mentions resolved."""

    chat: ChatId
    author: UserId
    text: str
    now: datetime
    reply_to: MessageId | None
    mentions: tuple[UserId, ...]


class NewUser(NamedTuple):
    username: str
    username_key: str
    now: datetime
    password_hash: str | None = None
    email: str | None = None
    role: str = "user"


class Member(NamedTuple):
    user: UserId
    blocked: bool


class Transaction(Protocol):
    """One write's transaction, as core/writes.py uses it: rows read and written, no rules.

    Runs synchronously, inside the store's group commit (storage/groupcommit.py). Rows are
    locked in one order by every write (storage/transaction.py says which)."""

    # Accounts
    def insert_users(self, users: Sequence[NewUser]) -> list[UserId | ChatdError]:
        """Each user's new id, or UsernameTaken (nothing written for that one)."""
        ...

    def update_user(self, user: UserId, **values: object) -> None:
        """Raises UserNotFound."""
        ...

    def insert_token(
        self, user: UserId, token_hash: str, now: datetime, expires_at: datetime
    ) -> None: ...

    def delete_token(self, token_id: int) -> None: ...

    def delete_tokens(self, user: UserId) -> None: ...

    # Chats
    def require_users(self, users: Sequence[UserId]) -> None:
        """Raises UserNotFound naming every id that is nobody's."""
        ...

    def insert_chat(
        self, name: str, now: datetime, owner: UserId | None, *, from_avito: bool
    ) -> ChatId:
        """Raises ChatNameTaken if `from_avito` and another chat made through the Avito API
        holds the name (only those clash)."""
        ...

    def find_direct_chat(self, low: UserId, high: UserId) -> ChatId | None: ...

    def insert_direct_chat(self, low: UserId, high: UserId, now: datetime) -> tuple[ChatId, bool]:
        """The pair's private chat, and whether this call created it (another transaction may
        have, meanwhile)."""
        ...

    def lock_chat(self, chat: ChatId) -> UserId | None:
        """Locks the chat's row until commit; its owner. Raises ChatNotFound."""
        ...

    def rename_chat(self, chat: ChatId, name: str) -> None:
        """Raises ChatNameTaken if the chat was made through the Avito API and another such
        chat holds the name."""
        ...

    def set_owner(self, chat: ChatId, owner: UserId) -> None: ...

    def member_ids(self, chat: ChatId) -> list[UserId]: ...

    def members_by_seniority(self, chat: ChatId) -> list[Member]:
        """The chat's members, longest-standing first."""
        ...

    def add_members(self, chat: ChatId, users: Sequence[UserId], now: datetime) -> None: ...

    def remove_members(self, chat: ChatId, users: Collection[UserId]) -> None: ...

    def delete_chat(self, chat: ChatId) -> None:
        """The chat, its members and its messages."""
        ...

    def mark_read(self, chat: ChatId, user: UserId, seq: int) -> int:
        """Moves the marker to min(seq, the chat's last seq) if that is forward; the marker."""
        ...

    def chat_info(self, viewer: UserId, chat: ChatId) -> ChatInfo | None: ...

    # Messages
    def quotes(self, messages: Collection[MessageId]) -> dict[MessageId, tuple[ChatId, Quote]]:
        """The messages among `messages` that exist, with their chats, as replies quote them."""
        ...

    def members_named(self, chat: ChatId, names: Collection[str]) -> dict[str, UserId]:
        """The chat's members whose username keys are among `names`, by key."""
        ...

    def insert_messages(self, sends: Sequence[NewMessage]) -> list[Message | None]:
        """Appends each send whose author is a member and not blocked (None for the others),
        with the chat's next seq and its time (max of the chat's last and `now`: it never goes
        back), moving the author's read marker to it."""
        ...

    def refusal(self, chat: ChatId, author: UserId) -> ChatdError:
        """Why a send was refused: ChatNotFound, UserNotFound, UserBlocked or NotAMember."""
        ...

    def edit_message(self, message: MessageId, text: str, now: datetime) -> Message | None:
        """The edited message; None if there is none, or it is a tombstone."""
        ...

    def set_mentions(self, message: Message, mentions: tuple[UserId, ...]) -> Message:
        """Replaces whom the message mentions; the message with them."""
        ...

    def find_message(self, message: MessageId) -> Message | None:
        """The message as every read shows it (its quote and reactions), read in this
        transaction."""
        ...

    def is_member(self, chat: ChatId, user: UserId) -> bool: ...

    def set_reaction(
        self, message: Message, emoji: str, user: UserId, now: datetime, *, on: bool
    ) -> bool:
        """Puts the user's reaction on the message (`on`) or takes it off; whether that
        changed anything."""
        ...

    def reactions(self, message: MessageId) -> tuple[Reaction, ...]: ...

    def tombstone(self, message: MessageId, now: datetime) -> ChatId | None:
        """Empties the message; its chat, or None if it was a tombstone already."""
        ...

    # Housekeeping
    def record_reply(self, receipt: Receipt, reply: Reply) -> bool:
        """Records the key with its reply; False (nothing written) when a live record holds it."""
        ...

    def prune_changes(self, before: datetime) -> int: ...

    def purge_idempotency_keys(self, before: datetime) -> int: ...


@dataclass(frozen=True)
class Batched(Generic[I, T]):
    """A write whose requests that wait together run as one call: `run(tx, items)` answers each
    item with its result and changes, or the error that refused it alone. The store takes one
    item per request; the group commit merges them."""

    run: Callable[[Transaction, Sequence[I]], list[Written[T] | ChatdError]]


class ChangeLog(Protocol):
    """The change log as the real-time hub and streams read it (storage/store.py's
    SqlChangeLog)."""

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


class Store(ChangeLog, Protocol):
    """Everything the core stores and reads."""

    @overload
    async def write(self, receipt: Receipt | None, work: Batched[I, T], item: I, /) -> T: ...

    @overload
    async def write(
        self,
        receipt: Receipt | None,
        work: Callable[Concatenate[Transaction, P], Written[T]],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T: ...

    async def write(self, receipt: Receipt | None, work: Any, /, *args: Any, **kwargs: Any) -> Any:
        """Runs `work` in the database's group commit: in one transaction with its change log
        entries and, given a receipt that wants it, the request's key and rendered reply.
        Publishes the changes once committed. Raises what `work` raises (nothing written), or
        IdempotencyKeyInUse when a request with the same key committed first."""
        ...

    # Accounts
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

    async def find_caller(self, token_hash: str, now: datetime) -> Caller | None:
        """The token's owner, if the token is unexpired and its owner not blocked."""
        ...

    # Chats
    async def user_chats_document(self, user: UserId) -> bytes:
        """The user's chats as the Avito API's JSON array of {id, name, users, created_at,
        last_message_at}, latest activity first (ties: higher id first), joined from what the
        writes stored (storage/records.py). Raises UserNotFound."""
        ...

    async def chat_infos(
        self, viewer: UserId, *, everyone: bool, limit: int, after: ChatListCursor | None
    ) -> list[ChatInfo]:
        """Chats as `viewer` sees them, latest activity first: theirs, or all (`everyone`)."""
        ...

    async def find_chat_info(self, viewer: UserId, chat: ChatId) -> ChatInfo | None: ...

    # Messages
    async def messages_document(self, chat: ChatId, page: Page) -> bytes:
        """One page of history without tombstones, oldest first, as the Avito API's JSON array
        of {id, chat, author, text, created_at}. Raises ChatNotFound or MessageNotFound
        (cursor)."""
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

    # Idempotency keys
    async def find_idempotency_record(
        self, user: UserId, key: str, expired_before: datetime
    ) -> IdempotencyRecord | None:
        """The live record of the user's key, if any."""
        ...


class Notifier(Protocol):
    """Told after each commit which topics (core/events.py) got changes, up to which pos.
    Never waits: it is called on the event loop as the commit's callers are answered."""

    def publish(self, topics: Iterable[str], pos: int) -> None: ...
