"""Chats: groups of users, and private chats between two."""

from __future__ import annotations

from collections.abc import Sequence

from chatd.core import clock, writes
from chatd.core.errors import ChatIsPrivate, ChatNotFound, Forbidden, InvalidInput, NotAMember
from chatd.core.idempotency import Receipt
from chatd.core.models import Caller, ChatId, ChatInfo, ChatListCursor, UserId
from chatd.core.ports import Store
from chatd.core.users import INT64_MAX, check_name

CHAT_NAME_MAX = 128


async def create_chat(store: Store, name: str, users: Sequence[UserId]) -> ChatId:
    """Creates a chat with these members (duplicates collapse), as the Avito API's /chats/add:
    no owner, and a name no other chat made this way holds.

    Raises InvalidInput, ChatNameTaken, or UserNotFound naming every unknown id.
    """
    checked = check_name(name, field="name", max_length=CHAT_NAME_MAX)
    members = sorted(set(users))
    if not members:
        raise InvalidInput("users must list at least one user id", code="invalid_users")
    return await store.write(None, writes.do_create_chat, checked, members, clock.now())


async def user_chats_document(store: Store, user: UserId) -> bytes:
    """The user's chats, most recent activity first, as the database's JSON document (the Avito
    API's listing; see storage/documents.py for why). Raises UserNotFound."""
    return await store.user_chats_document(user)


async def access_chat(store: Store, caller: Caller, chat: ChatId) -> ChatInfo:
    """The chat as the caller sees it. Raises ChatNotFound unless the caller is a member or a
    moderator: others do not learn that it exists."""
    info = await store.find_chat_info(caller.id, chat)
    if info is None or not (info.is_member or caller.is_moderator):
        raise ChatNotFound(chat)
    return info


def _require_owner(caller: Caller, info: ChatInfo, action: str) -> None:
    if info.owner != caller.id and not caller.is_moderator:
        raise Forbidden(f"only the chat's owner or a moderator may {action} it", code="not_owner")


async def list_chats(
    store: Store,
    caller: Caller,
    *,
    everyone: bool,
    limit: int,
    after: ChatListCursor | None,
) -> list[ChatInfo]:
    """The caller's chats, or every chat (moderators), latest activity first."""
    if everyone and not caller.is_moderator:
        raise Forbidden("only moderators may list every chat", code="not_moderator")
    return await store.chat_infos(caller.id, everyone=everyone, limit=limit, after=after)


async def create_group(
    store: Store,
    caller: Caller,
    name: str,
    users: Sequence[UserId],
    receipt: Receipt | None = None,
) -> ChatInfo:
    """A chat owned by the caller, who is always a member. Any name will do: groups may share
    one, so creating a group never tells of other people's chats. Raises InvalidInput or
    UserNotFound."""
    checked = check_name(name, field="name", max_length=CHAT_NAME_MAX)
    members = sorted({*users, caller.id})
    return await store.write(
        receipt, writes.do_create_group, checked, members, clock.now(), caller.id
    )


async def update_chat(
    store: Store,
    caller: Caller,
    chat: ChatId,
    name: str | None,
    users: Sequence[UserId] | None,
    receipt: Receipt | None = None,
) -> ChatInfo:
    """Renames and/or sets the members (owner or moderator). The owner stays a member; private
    chats cannot change. A group takes any name; a chat made through the Avito API keeps its
    name unique among those (ChatNameTaken): it has no owner, so only a moderator, who may see
    every chat, can meet that refusal. Raises ChatNotFound, Forbidden, ChatIsPrivate,
    InvalidInput, ChatNameTaken or UserNotFound."""
    info = await access_chat(store, caller, chat)
    # Private chats have no owner: say what the real obstacle is (members know the chat anyway).
    if info.is_private:
        raise ChatIsPrivate(chat, "be renamed or gain members")
    _require_owner(caller, info, "change")
    checked = None if name is None else check_name(name, field="name", max_length=CHAT_NAME_MAX)
    members = None if users is None else sorted(set(users))
    if members is not None and info.owner is not None and info.owner not in members:
        raise InvalidInput(
            "users must include the chat's owner: an owner leaves with /leave",
            code="invalid_users",
        )
    if members == []:
        raise InvalidInput("users must list at least one user id", code="invalid_users")
    return await store.write(
        receipt, writes.do_update_chat, chat, checked, members, clock.now(), caller.id
    )


async def leave_chat(
    store: Store, caller: Caller, chat: ChatId, receipt: Receipt | None = None
) -> None:
    """The caller leaves; an owner hands the chat to the longest-standing member, and the
    last one out deletes it. Raises ChatNotFound, NotAMember or ChatIsPrivate."""
    info = await access_chat(store, caller, chat)
    if not info.is_member:
        raise NotAMember(caller.id, chat)
    if info.is_private:
        raise ChatIsPrivate(chat, "be left")
    await store.write(receipt, writes.do_leave_chat, chat, caller.id)


async def delete_chat(
    store: Store, caller: Caller, chat: ChatId, receipt: Receipt | None = None
) -> None:
    """Deletes the chat with all its messages (owner or moderator)."""
    info = await access_chat(store, caller, chat)
    _require_owner(caller, info, "delete")
    await store.write(receipt, writes.do_delete_chat, chat)


async def mark_read(
    store: Store, caller: Caller, chat: ChatId, seq: int, receipt: Receipt | None = None
) -> ChatInfo:
    """Marks everything up to `seq` as read for the caller (markers only move forward)."""
    if not 0 <= seq <= INT64_MAX:
        raise InvalidInput(f"seq must be between 0 and {INT64_MAX}", code="invalid_seq")
    info = await access_chat(store, caller, chat)
    if not info.is_member:
        raise NotAMember(caller.id, chat)
    return await store.write(receipt, writes.do_mark_read, chat, caller.id, seq)
