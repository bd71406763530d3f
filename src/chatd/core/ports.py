"""What the core needs from the outside world. storage/store.py implements `Store` over SQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Protocol

from chatd.core.models import Chat, ChatId, Message, Page, UserId


class Store(Protocol):
    """Each method is one transaction. Rule violations come back as core errors."""

    async def add_user(self, username: str, username_key: str, now: datetime) -> UserId:
        """Raises UsernameTaken when `username_key` is in use."""
        ...

    async def create_chat(self, name: str, users: Sequence[UserId], now: datetime) -> ChatId:
        """Raises ChatNameTaken, or UserNotFound naming every missing user (nothing created)."""
        ...

    async def post_message(self, chat: ChatId, author: UserId, text: str, now: datetime) -> Message:
        """Appends to the chat's history and moves its activity time, in one transaction.

        Raises ChatNotFound, UserNotFound or NotAMember.
        """
        ...

    async def list_user_chats(self, user: UserId) -> list[Chat]:
        """The user's chats, latest activity first (ties: higher id first). Raises UserNotFound."""
        ...

    async def list_messages(self, chat: ChatId, page: Page) -> list[Message]:
        """One page of history, oldest first. Raises ChatNotFound or MessageNotFound (cursor)."""
        ...

    def stream_messages(self, chat: ChatId, batch: int) -> AsyncIterator[list[Message]]:
        """The whole history as it is when iteration starts, oldest first, in batches of at most
        `batch`. The first batch (possibly empty) comes before any other; ChatNotFound is raised
        when it is asked for."""
        ...
