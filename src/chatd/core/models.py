"""The domain's records: storage builds them, adapters shape them.

Records that storage builds by the hundred per request are NamedTuples: immutable like a frozen
dataclass, but built in C (a frozen dataclass's __init__ costs ~1 µs more per record, which is
10% of a 100-chat listing).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, NamedTuple

UserId = int
ChatId = int
MessageId = int
Role = Literal["user", "moderator"]


class Account(NamedTuple):
    id: UserId
    username: str
    email: str | None
    role: Role
    created_at: datetime
    blocked_at: datetime | None


class Credentials(NamedTuple):
    user: UserId
    password_hash: str | None  # None: made through the Avito API, cannot log in yet
    blocked: bool


class Caller(NamedTuple):
    """Who is asking: the owner of a valid token."""

    id: UserId
    role: Role
    token_id: int

    @property
    def is_moderator(self) -> bool:
        return self.role == "moderator"


class IdempotencyRecord(NamedTuple):
    """What a previous request with the same Idempotency-Key left behind."""

    fingerprint: str
    status: int
    body: bytes


class Quote(NamedTuple):
    """The message a reply answers, as it is now."""

    id: MessageId
    author: UserId
    excerpt: str | None  # the start of its text; None once it is deleted
    deleted: bool


class Reaction(NamedTuple):
    """One emoji on a message, and who put it there (first first)."""

    emoji: str
    users: tuple[UserId, ...]


class Message(NamedTuple):
    id: MessageId
    chat: ChatId
    seq: int  # 1, 2, 3, ... within its chat: no gaps, no repeats
    author: UserId
    text: str  # empty for a deleted message
    created_at: datetime
    edited_at: datetime | None = None
    deleted_at: datetime | None = None  # a tombstone keeps its seq
    reply_to: Quote | None = None
    reactions: tuple[Reaction, ...] = ()  # in the order each emoji was first put on it
    mentions: tuple[UserId, ...] = ()  # in order of first appearance in the text


class ChatInfo(NamedTuple):
    """A chat as v1 shows it to one user."""

    id: ChatId
    name: str | None
    is_private: bool
    owner: UserId | None
    users: list[UserId]
    created_at: datetime
    last_message_at: datetime
    last_seq: int
    last_read_seq: int  # the viewer's; 0 for a moderator who is not a member
    is_member: bool
    last_message: Message | None
    mention_count: int = 0  # the viewer's unread messages that mention them

    @property
    def unread_count(self) -> int:
        return max(self.last_seq - self.last_read_seq, 0)


@dataclass(frozen=True, slots=True)
class Page:
    """Which slice of a chat's history to read: cursors are message ids, `limit` None means all."""

    limit: int | None = None
    before: MessageId | None = None
    after: MessageId | None = None


@dataclass(frozen=True, slots=True)
class SeqPage:
    """A page of v1 history: at most `limit` messages with before_seq < seq < after_seq..."""

    limit: int
    before_seq: int | None = None
    after_seq: int | None = None


@dataclass(frozen=True, slots=True)
class ChatListCursor:
    """Where the previous page of a chat list ended (keyset: activity time, then id)."""

    last_message_at: datetime
    chat_id: ChatId
