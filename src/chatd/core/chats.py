"""Chats: named groups of users."""

from __future__ import annotations

from collections.abc import Sequence

from chatd.core import clock
from chatd.core.errors import InvalidInput
from chatd.core.models import Chat, ChatId, UserId
from chatd.core.ports import Store
from chatd.core.users import check_name

CHAT_NAME_MAX = 128


async def create_chat(store: Store, name: str, users: Sequence[UserId]) -> ChatId:
    """Creates a chat with these members (duplicates collapse).

    Raises InvalidInput, ChatNameTaken, or UserNotFound naming every unknown id.
    """
    checked = check_name(name, field="name", max_length=CHAT_NAME_MAX)
    members = sorted(set(users))
    if not members:
        raise InvalidInput("users must list at least one user id", code="invalid_users")
    return await store.create_chat(checked, members, clock.now())


async def list_user_chats(store: Store, user: UserId) -> list[Chat]:
    """The user's chats, most recent activity first. Raises UserNotFound."""
    return await store.list_user_chats(user)
