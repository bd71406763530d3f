"""The domain's records: storage builds them, adapters shape them.

Records that storage builds by the hundred per request are NamedTuples: immutable like a frozen
dataclass, but built in C (a frozen dataclass's __init__ costs ~1 µs more per record, which is
10% of a 100-chat listing).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

UserId = int
ChatId = int
MessageId = int


class Chat(NamedTuple):
    id: ChatId
    name: str
    users: list[UserId]  # ascending
    created_at: datetime
    last_message_at: datetime  # the creation time until the first message


class Message(NamedTuple):
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
