"""What every write changes and which events it logs: the decisions, made once, here.

Each `do_*` function runs inside one transaction of the store's group commit
(storage/groupcommit.py) and is given that transaction as a `Transaction` (core/ports.py): plain
reads and writes of rows, no rules. The function decides what changes, makes the changes through
it, and returns `Written(result, changes)`: the changes are what the store appends to the change
log, in the same transaction, and publishes after the commit. The use cases (core/chats.py,
core/messages.py, core/accounts.py, core/users.py) check who may ask and what they sent, then
call `store.write(do_something, ...)`.

Sends are batched: `do_send` takes every send waiting for the same group, so a busy chat pays one
transaction (and one fsync) for many messages. A lone send is a batch of one, through the same
function and the same statements.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from chatd.core import events
from chatd.core.errors import ChatdError, ChatNotFound, MessageNotFound
from chatd.core.events import Change, Written
from chatd.core.idempotency import Receipt, Reply
from chatd.core.models import ChatId, ChatInfo, Message, MessageId, Role, UserId
from chatd.core.ports import Batched, NewUser, Send, Transaction

# Accounts


def _add_users(tx: Transaction, users: Sequence[NewUser]) -> list[Written[UserId] | ChatdError]:
    return [
        Written(found, []) if isinstance(found, int) else found for found in tx.insert_users(users)
    ]


# Batched: the Avito API's users/add comes by the thousand. A name taken, before or earlier in
# the batch, fails its own request only.
do_add_user = Batched(_add_users)


def do_set_password_hash(tx: Transaction, user: UserId, password_hash: str) -> Written[None]:
    tx.update_user(user, password_hash=password_hash)
    return Written(None, [])


def do_set_role(tx: Transaction, user: UserId, role: Role) -> Written[None]:
    tx.update_user(user, role=role)
    # A moderator's open streams hear every chat: they must learn that this one no longer does.
    return Written(None, [Change(events.USER_ROLE, None, user)])


def do_set_blocked(tx: Transaction, user: UserId, blocked_at: datetime | None) -> Written[None]:
    tx.update_user(user, blocked_at=blocked_at)
    if blocked_at is None:
        return Written(None, [])
    # Unblocking must not revive tokens that may be why the account was blocked.
    tx.delete_tokens(user)
    # Closes the user's open streams.
    return Written(None, [Change(events.USER_BLOCKED, None, user)])


def do_add_token(
    tx: Transaction, user: UserId, token_hash: str, now: datetime, expires_at: datetime
) -> Written[None]:
    tx.insert_token(user, token_hash, now, expires_at)
    return Written(None, [])


def do_delete_token(tx: Transaction, token_id: int) -> Written[None]:
    tx.delete_token(token_id)
    return Written(None, [])


# Chats


def do_create_chat(
    tx: Transaction, name: str, members: Sequence[UserId], now: datetime
) -> Written[ChatId]:
    """A chat made through the Avito API: no owner, and a name no other such chat holds (the
    Avito contract; v1 groups may share it, and do not count)."""
    return _create(tx, name, members, now, None, from_avito=True)


def do_create_group(
    tx: Transaction, name: str, members: Sequence[UserId], now: datetime, owner: UserId
) -> Written[ChatInfo]:
    """A v1 group, named freely: its name neither clashes with nor reveals anyone else's."""
    chat, created = _create(tx, name, members, now, owner, from_avito=False)
    return Written(_seen_by(tx, owner, chat), created)


def _create(
    tx: Transaction,
    name: str,
    members: Sequence[UserId],
    now: datetime,
    owner: UserId | None,
    *,
    from_avito: bool,
) -> Written[ChatId]:
    tx.require_users(members)
    chat = tx.insert_chat(name, now, owner, from_avito=from_avito)
    tx.add_members(chat, members, now)
    return Written(chat, events.chat_created(chat, set(members)))


def do_update_chat(
    tx: Transaction,
    chat: ChatId,
    name: str | None,
    members: Sequence[UserId] | None,
    now: datetime,
    viewer: UserId,
) -> Written[ChatInfo]:
    """Renames and/or sets the member list; the chat as `viewer` then sees it."""
    tx.lock_chat(chat)
    if name is not None:
        tx.rename_chat(chat, name)
    changed = [Change(events.CHAT_UPDATED, chat)]
    if members is not None:
        tx.require_users(members)
        current = set(tx.member_ids(chat))
        gone = current - set(members)
        added = [user for user in members if user not in current]
        tx.remove_members(chat, gone)
        tx.add_members(chat, added, now)
        changed += events.for_users(events.MEMBER_ADDED, chat, set(added))
        changed += events.for_users(events.MEMBER_REMOVED, chat, gone)
    return Written(_seen_by(tx, viewer, chat), changed)


def do_leave_chat(tx: Transaction, chat: ChatId, user: UserId) -> Written[None]:
    """The member leaves. If they owned the chat, it passes to the longest-standing member left,
    preferring one who is not blocked; the last one out deletes it."""
    owner = tx.lock_chat(chat)
    tx.remove_members(chat, [user])
    left = tx.members_by_seniority(chat)
    if not left:
        # The leaver hears of the deletion too (they were its last member).
        deleted = do_delete_chat(tx, chat)
        return Written(None, [Change(events.CHAT_DELETED, chat, user), *deleted.changes])
    if owner == user:
        active = [member for member in left if not member.blocked]
        tx.set_owner(chat, (active or left)[0].user)
    return Written(
        None, [Change(events.MEMBER_REMOVED, chat, user), Change(events.CHAT_UPDATED, chat)]
    )


def do_delete_chat(tx: Transaction, chat: ChatId) -> Written[None]:
    tx.lock_chat(chat)
    members = tx.member_ids(chat)
    tx.delete_chat(chat)
    # Addressed to each member: once the chat is gone, nobody is its member any more.
    return Written(None, events.chat_deleted(chat, set(members)))


def do_mark_read(tx: Transaction, chat: ChatId, user: UserId, seq: int) -> Written[ChatInfo]:
    """Moves the user's read marker forward to `seq`, at most the chat's last seq."""
    marker = tx.mark_read(chat, user, seq)
    return Written(_seen_by(tx, user, chat), [Change(events.CHAT_READ, chat, user, seq=marker)])


def _seen_by(tx: Transaction, viewer: UserId, chat: ChatId) -> ChatInfo:
    found = tx.chat_info(viewer, chat)
    if found is None:  # deleted by this very transaction: the caller was its last member
        raise ChatNotFound(chat)
    return found


# Messages


def _send(tx: Transaction, sends: Sequence[Send]) -> list[Written[Message] | ChatdError]:
    done: list[Written[Message] | ChatdError] = []
    for send, sent in zip(sends, tx.insert_messages(sends), strict=True):
        if sent is None:
            done.append(tx.refusal(send.chat, send.author))
        else:
            done.append(Written(sent, [Change(events.MESSAGE_CREATED, sent.chat, message=sent.id)]))
    return done


# Each send is appended to its chat: a member who is not blocked gets the chat's next seq, its
# time (which never goes back), and their read marker moved to it. A refused send writes nothing
# and fails alone, with the reason.
do_send = Batched(_send)


def do_send_direct(
    tx: Transaction, author: UserId, to: UserId, text: str, now: datetime
) -> Written[Message]:
    """Sends to the pair's private chat, creating it first if needed: in one transaction, so a
    refused send leaves no empty chat behind."""
    low, high = sorted((author, to))
    logged: list[Change] = []
    chat = tx.find_direct_chat(low, high)
    if chat is None:
        tx.require_users([low, high])
        chat, created = tx.insert_direct_chat(low, high, now)
        if created:
            tx.add_members(chat, [low, high], now)
            logged += events.chat_created(chat, {low, high})
    (sent,) = _send(tx, [Send(chat, author, text, now)])
    if isinstance(sent, ChatdError):
        raise sent
    return Written(sent.result, logged + sent.changes)


def do_edit_message(
    tx: Transaction, message: MessageId, text: str, now: datetime
) -> Written[Message]:
    edited = tx.edit_message(message, text, now)
    if edited is None:
        raise MessageNotFound(message)
    return Written(edited, [Change(events.MESSAGE_EDITED, edited.chat, message=message)])


def do_delete_message(tx: Transaction, message: MessageId, now: datetime) -> Written[None]:
    # A tombstone: the text goes, the seq stays, so histories stay gap-free.
    chat = tx.tombstone(message, now)
    if chat is None:  # already a tombstone: nothing happened
        return Written(None, [])
    return Written(None, [Change(events.MESSAGE_DELETED, chat, message=message)])


# Housekeeping


def do_prune_changes(tx: Transaction, before: datetime) -> Written[int]:
    """Forgets a batch of the oldest changes logged before `before`; how many."""
    return Written(tx.prune_changes(before), [])


def do_purge_idempotency_keys(tx: Transaction, before: datetime) -> Written[int]:
    return Written(tx.purge_idempotency_keys(before), [])


def do_keep_reply(tx: Transaction, receipt: Receipt, reply: Reply) -> Written[bool]:
    """Records the reply of a keyed request that wrote nothing (a refusal); False when a live
    record already holds the key."""
    return Written(tx.record_reply(receipt, reply), [])
