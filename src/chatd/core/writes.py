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
from chatd.core.errors import (
    ChatdError,
    ChatNotFound,
    InvalidInput,
    MessageDeleted,
    MessageNotFound,
    NotAMember,
)
from chatd.core.events import Change, Written
from chatd.core.idempotency import Receipt, Reply
from chatd.core.models import ChatId, ChatInfo, Message, MessageId, Role, UserId
from chatd.core.ports import Batched, NewMessage, NewUser, Send, Transaction

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
    replied = {send.reply_to for send in sends if send.reply_to is not None}
    quotes = tx.quotes(replied) if replied else {}  # no query for a batch without replies
    done: list[Written[Message] | ChatdError | None] = [None] * len(sends)
    accepted: list[int] = []
    new: list[NewMessage] = []
    for index, send in enumerate(sends):
        quoted = None if send.reply_to is None else quotes.get(send.reply_to)
        if send.reply_to is not None and (quoted is None or quoted[0] != send.chat):
            # A message of another chat, or of nobody: the same answer, so a reply reveals
            # nothing about chats the author cannot read.
            done[index] = InvalidInput(
                f"reply_to: message {send.reply_to} is not in chat {send.chat}",
                code="invalid_reply",
            )
            continue
        # Resolved against the members now, in this transaction: no query without a name.
        named = tx.members_named(send.chat, send.names) if send.names else {}
        mentions = tuple(named[name] for name in send.names if name in named)
        accepted.append(index)
        new.append(NewMessage(send.chat, send.author, send.text, send.now, send.reply_to, mentions))
    for index, sent in zip(accepted, tx.insert_messages(new) if new else [], strict=True):
        send = sends[index]
        if sent is None:
            done[index] = tx.refusal(send.chat, send.author)
            continue
        if send.reply_to is not None:
            sent = sent._replace(reply_to=quotes[send.reply_to][1])
        done[index] = Written(sent, [Change(events.MESSAGE_CREATED, sent.chat, message=sent.id)])
    return [result for result in done if result is not None]


# Each send is appended to its chat: a member who is not blocked gets the chat's next seq, its
# time (which never goes back), and their read marker moved to it. A refused send writes nothing
# and fails alone, with the reason.
do_send = Batched(_send)


def do_send_direct(
    tx: Transaction,
    author: UserId,
    to: UserId,
    text: str,
    now: datetime,
    reply_to: MessageId | None = None,
    names: tuple[str, ...] = (),
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
    (sent,) = _send(tx, [Send(chat, author, text, now, reply_to, names)])
    if isinstance(sent, ChatdError):
        raise sent
    return Written(sent.result, logged + sent.changes)


def do_edit_message(
    tx: Transaction, message: MessageId, text: str, now: datetime, names: tuple[str, ...] = ()
) -> Written[Message]:
    """The new text, and whom it mentions among the chat's members now."""
    edited = tx.edit_message(message, text, now)
    if edited is None:
        raise MessageNotFound(message)
    named = tx.members_named(edited.chat, names) if names else {}
    mentions = tuple(named[name] for name in names if name in named)
    if mentions != edited.mentions:
        edited = tx.set_mentions(edited, mentions)
    return Written(edited, [Change(events.MESSAGE_EDITED, edited.chat, message=message)])


def do_delete_message(tx: Transaction, message: MessageId, now: datetime) -> Written[None]:
    # A tombstone: the text goes, the seq stays, so histories stay gap-free.
    chat = tx.tombstone(message, now)
    if chat is None:  # already a tombstone: nothing happened
        return Written(None, [])
    return Written(None, [Change(events.MESSAGE_DELETED, chat, message=message)])


def do_react(
    tx: Transaction, message: MessageId, user: UserId, emoji: str, now: datetime, *, on: bool
) -> Written[Message]:
    """Sets or clears one user's reaction; logs `message.reactions` only if that changed it."""
    found = tx.find_message(message)
    if found is None:
        raise MessageNotFound(message)
    if found.deleted_at is not None:
        raise MessageDeleted(message)
    if not tx.is_member(found.chat, user):
        raise NotAMember(user, found.chat)
    if not tx.set_reaction(found, emoji, user, now, on=on):
        return Written(found, [])
    current = found._replace(reactions=tx.reactions(message))
    return Written(current, [Change(events.MESSAGE_REACTIONS, found.chat, message=message)])


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
