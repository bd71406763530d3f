"""Messages: the history of a chat."""

from __future__ import annotations

from collections.abc import AsyncIterator

from chatd.core import clock
from chatd.core.errors import InvalidInput
from chatd.core.models import ChatId, Message, Page, UserId
from chatd.core.ports import Store

PAGE_MAX = 1000
STREAM_BATCH = 1000


def check_text(text: str, max_length: int) -> str:
    """The text unchanged (stored byte-exact), or InvalidInput when blank or too long."""
    if not text.strip():
        raise InvalidInput("text must not be empty or blank", code="invalid_text")
    if "\x00" in text:
        # PostgreSQL cannot store NUL in text; refuse it on every database alike.
        raise InvalidInput("text must not contain NUL characters", code="invalid_text")
    if len(text) > max_length:
        raise InvalidInput(
            f"text must be at most {max_length} characters, got {len(text)}",
            code="invalid_text",
        )
    return text


async def post_message(
    store: Store, chat: ChatId, author: UserId, text: str, *, max_length: int
) -> Message:
    """Appends a message. Raises InvalidInput, ChatNotFound, UserNotFound or NotAMember."""
    checked = check_text(text, max_length)
    return await store.post_message(chat, author, checked, clock.now())


def check_page(page: Page) -> Page:
    """Raises InvalidInput for a limit outside 1..PAGE_MAX."""
    if page.limit is not None and not 1 <= page.limit <= PAGE_MAX:
        raise InvalidInput(
            f"limit must be between 1 and {PAGE_MAX}, got {page.limit}", code="invalid_limit"
        )
    return page


async def list_messages(store: Store, chat: ChatId, page: Page) -> list[Message]:
    """One page of the chat's history, oldest first. Raises ChatNotFound or MessageNotFound."""
    return await store.list_messages(chat, check_page(page))


def stream_history(store: Store, chat: ChatId) -> AsyncIterator[list[Message]]:
    """The whole history in bounded batches; the first raises ChatNotFound for an unknown chat."""
    return store.stream_messages(chat, STREAM_BATCH)
