"""The domain's records. Plain frozen dataclasses: storage builds them, adapters shape them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

UserId = int
ChatId = int
MessageId = int


@dataclass(frozen=True, slots=True)
class Chat:
    id: ChatId
    name: str
    users: list[UserId]  # ascending
    created_at: datetime
    last_message_at: datetime  # the creation time until the first message


@dataclass(frozen=True, slots=True)
class Message:
    id: MessageId
    chat: ChatId
    seq: int  # 1, 2, 3, ... within its chat: no gaps, no repeats
    author: UserId
    text: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Page:
    """Which slice of a chat's history to read: cursors are message ids, `limit` None means all."""

    limit: int | None = None
    before: MessageId | None = None
    after: MessageId | None = None
