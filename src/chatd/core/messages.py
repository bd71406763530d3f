"""Messages: the history of a chat."""

from __future__ import annotations

from collections.abc import AsyncIterator

from chatd.core import clock, writes
from chatd.core.chats import access_chat
from chatd.core.errors import ChatNotFound, Forbidden, InvalidInput, MessageDeleted, MessageNotFound
from chatd.core.idempotency import Receipt
from chatd.core.mentions import mentioned_names
from chatd.core.models import Caller, ChatId, Message, MessageId, Page, SeqPage, UserId
from chatd.core.ports import Send, Store
from chatd.core.users import INT64_MAX, check_characters

PAGE_MAX = 1000
SEQ_PAGE_MAX = 100
SEQ_MAX = INT64_MAX  # a seq is stored as a 64-bit integer, like an id
STREAM_BATCH = 1000
QUOTE_LENGTH = 100  # characters of a replied message that a reply shows


def check_text(text: str, max_length: int) -> str:
    """The text unchanged (stored byte-exact), or InvalidInput when blank, too long, or holding
    a NUL or a surrogate."""
    if not text.strip():
        raise InvalidInput("text must not be empty or blank", code="invalid_text")
    check_characters(text, field="text")
    if len(text) > max_length:
        raise InvalidInput(
            f"text must be at most {max_length} characters, got {len(text)}",
            code="invalid_text",
        )
    return text


async def post_message(
    store: Store,
    chat: ChatId,
    author: UserId,
    text: str,
    *,
    max_length: int,
    reply_to: MessageId | None = None,
) -> Message:
    """Appends a message, answering `reply_to` (a message of the same chat) if given. Raises
    InvalidInput, ChatNotFound, UserNotFound or NotAMember."""
    checked = check_text(text, max_length)
    send = Send(chat, author, checked, clock.now(), reply_to, mentioned_names(checked))
    return await store.write(None, writes.do_send, send)


def check_page(page: Page) -> Page:
    """Raises InvalidInput for a limit outside 1..PAGE_MAX."""
    if page.limit is not None and not 1 <= page.limit <= PAGE_MAX:
        raise InvalidInput(
            f"limit must be between 1 and {PAGE_MAX}, got {page.limit}", code="invalid_limit"
        )
    return page


async def messages_document(store: Store, chat: ChatId, page: Page) -> bytes:
    """One page of the chat's history, oldest first, as the database's JSON document. Raises
    InvalidInput, ChatNotFound or MessageNotFound."""
    return await store.messages_document(chat, check_page(page))


def history_documents(store: Store, chat: ChatId) -> AsyncIterator[bytes]:
    """The whole history as JSON arrays of bounded size, none empty; asking for the first raises
    ChatNotFound for an unknown chat."""
    return store.history_documents(chat, STREAM_BATCH)


async def send(
    store: Store,
    caller: Caller,
    chat: ChatId,
    text: str,
    *,
    max_length: int,
    reply_to: MessageId | None = None,
    receipt: Receipt | None = None,
) -> Message:
    """The caller sends to a chat they can see, answering `reply_to` (a message of that chat)
    if given. Raises ChatNotFound, NotAMember (a moderator reading a chat they are not in),
    InvalidInput (`invalid_reply` too) or UserBlocked."""
    checked = check_text(text, max_length)
    await access_chat(store, caller, chat)
    send = Send(chat, caller.id, checked, clock.now(), reply_to, mentioned_names(checked))
    return await store.write(receipt, writes.do_send, send)


async def send_direct(
    store: Store,
    caller: Caller,
    user: UserId,
    text: str,
    *,
    max_length: int,
    reply_to: MessageId | None = None,
    receipt: Receipt | None = None,
) -> Message:
    """Sends to the private chat of the caller and `user`, creating it on first use."""
    checked = check_text(text, max_length)
    if user == caller.id:
        raise InvalidInput("a private chat needs another user", code="invalid_user")
    names = mentioned_names(checked)
    return await store.write(
        receipt, writes.do_send_direct, caller.id, user, checked, clock.now(), reply_to, names
    )


def check_seq_page(page: SeqPage) -> SeqPage:
    if not 1 <= page.limit <= SEQ_PAGE_MAX:
        raise InvalidInput(
            f"limit must be between 1 and {SEQ_PAGE_MAX}, got {page.limit}", code="invalid_limit"
        )
    for name, value in (("before_seq", page.before_seq), ("after_seq", page.after_seq)):
        if value is not None and not 0 <= value <= SEQ_MAX:
            raise InvalidInput(f"{name} must be between 0 and {SEQ_MAX}", code="invalid_cursor")
    return page


async def history(store: Store, caller: Caller, chat: ChatId, page: SeqPage) -> list[Message]:
    """A page of the chat's history by seq, tombstones included. Raises ChatNotFound."""
    check_seq_page(page)
    await access_chat(store, caller, chat)
    return await store.history_page(chat, page)


async def _access_message(store: Store, caller: Caller, message: MessageId) -> Message:
    found = await store.find_message(message)
    if found is None:
        raise MessageNotFound(message)
    try:
        await access_chat(store, caller, found.chat)
    except ChatNotFound as exc:  # not the caller's to know about
        raise MessageNotFound(message) from exc
    return found


async def edit(
    store: Store,
    caller: Caller,
    message: MessageId,
    text: str,
    *,
    max_length: int,
    receipt: Receipt | None = None,
) -> Message:
    """The author edits their message. Raises MessageNotFound, Forbidden, MessageDeleted or
    InvalidInput."""
    checked = check_text(text, max_length)
    found = await _access_message(store, caller, message)
    if found.author != caller.id:
        raise Forbidden("only the author may edit a message", code="not_author")
    if found.deleted_at is not None:
        raise MessageDeleted(message)
    names = mentioned_names(checked)
    return await store.write(receipt, writes.do_edit_message, message, checked, clock.now(), names)


async def delete(
    store: Store, caller: Caller, message: MessageId, receipt: Receipt | None = None
) -> None:
    """The author or a moderator deletes a message, leaving a tombstone that keeps its seq."""
    found = await _access_message(store, caller, message)
    if found.author != caller.id and not caller.is_moderator:
        raise Forbidden("only the author or a moderator may delete a message", code="not_author")
    await store.write(receipt, writes.do_delete_message, message, clock.now())


async def react(
    store: Store,
    caller: Caller,
    message: MessageId,
    emoji: str,
    *,
    on: bool,
    receipt: Receipt | None = None,
) -> Message:
    """A member puts their reaction `emoji` (already checked: api/emoji.py) on a message, or
    takes it off (`on` False); the message with its reactions then. Doing it twice changes
    nothing. Raises MessageNotFound, MessageDeleted or NotAMember (a moderator reads every
    chat, but reacts only in theirs, as they send)."""
    found = await _access_message(store, caller, message)
    return await store.write(
        receipt, writes.do_react, found.id, caller.id, emoji, clock.now(), on=on
    )
