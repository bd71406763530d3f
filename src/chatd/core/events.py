"""The change log's vocabulary: what happened, in which chat, and who hears of it.

Every write appends its changes to the log in its own transaction (storage/changes.py); the
log gives each a position `pos`, strictly increasing in commit order, and a user's stream is the
log filtered to what concerns them:

    addressed to the chat          the chat's current members hear of it (one row, however many
      message.created/edited/deleted    members: a send costs the same in any chat)
      message.reactions
      chat.updated
    addressed to one user          that user hears of it (membership changes, whose audience
      chat.created, member.added        is not the chat's current members; the user's own read
      member.removed, chat.deleted      marker; being blocked)
      chat.read, user.blocked, user.role

A chat's creation and deletion are also logged once addressed to the chat, for moderators, who
hear every chat's changes: before its members' rows (they are not members yet, so they do not
hear it) and after them (they are no longer members), respectively.

`user.blocked` and `user.role` are never shown to clients: a stream that meets the first ends if
the user is blocked now (a block is a state: an unblocked user's resume reads past it); one that
meets the second follows the user's role now (a demoted moderator stops hearing every chat).
"""

from __future__ import annotations

from typing import Generic, NamedTuple, TypeVar

from chatd.core.models import ChatId, ChatInfo, Message, MessageId, UserId

MESSAGE_CREATED = "message.created"
MESSAGE_EDITED = "message.edited"
MESSAGE_DELETED = "message.deleted"
MESSAGE_REACTIONS = "message.reactions"
CHAT_CREATED = "chat.created"
CHAT_UPDATED = "chat.updated"
CHAT_DELETED = "chat.deleted"
MEMBER_ADDED = "member.added"
MEMBER_REMOVED = "member.removed"
CHAT_READ = "chat.read"
USER_BLOCKED = "user.blocked"
USER_ROLE = "user.role"

TYPES = (
    MESSAGE_CREATED,
    MESSAGE_EDITED,
    MESSAGE_DELETED,
    MESSAGE_REACTIONS,
    CHAT_CREATED,
    CHAT_UPDATED,
    CHAT_DELETED,
    MEMBER_ADDED,
    MEMBER_REMOVED,
    CHAT_READ,
)
MESSAGE_TYPES = frozenset({MESSAGE_CREATED, MESSAGE_EDITED, MESSAGE_DELETED, MESSAGE_REACTIONS})
# Never shown to clients: they change what a stream does (core/stream.py, realtime/session.py).
INTERNAL_TYPES = frozenset({USER_BLOCKED, USER_ROLE})
# Events that show the chat as the recipient now sees it.
CHAT_TYPES = frozenset({CHAT_CREATED, CHAT_UPDATED, MEMBER_ADDED})
# Every change is also hinted under this topic: moderators' streams hear every chat.
ALL_TOPIC = "*"


def user_topic(user: UserId) -> str:
    return f"u{user}"


def chat_topic(chat: ChatId) -> str:
    return f"c{chat}"


def topic_of(chat: ChatId | None, user: UserId | None) -> str:
    """A change's topic: its user's, when addressed to one, else its chat's."""
    return user_topic(user) if user is not None else chat_topic(chat or 0)


# Addressed to a user: they are in the chat from here on, or no longer.
JOINS = frozenset({CHAT_CREATED, MEMBER_ADDED})
LEAVES = frozenset({MEMBER_REMOVED, CHAT_DELETED})


class Change(NamedTuple):
    """One entry of the change log, as a write produces it."""

    type: str
    chat: ChatId | None
    user: UserId | None = None  # addressed to this user; None: to the chat's members
    message: MessageId | None = None
    seq: int | None = None  # chat.read: the read marker

    @property
    def topic(self) -> str:
        """Where the broker says "something new": the user's topic, or the chat's."""
        return topic_of(self.chat, self.user)


def for_users(type_: str, chat: ChatId, users: list[UserId] | set[UserId]) -> list[Change]:
    """The same change addressed to each of `users`."""
    return [Change(type_, chat, user) for user in sorted(users)]


def chat_created(chat: ChatId, members: list[UserId] | set[UserId]) -> list[Change]:
    """A new chat: once for moderators (first: its members are not members yet), then to each
    member."""
    return [Change(CHAT_CREATED, chat), *for_users(CHAT_CREATED, chat, members)]


def chat_deleted(chat: ChatId, members: list[UserId] | set[UserId]) -> list[Change]:
    """A deleted chat: to each of its members, then once for moderators."""
    return [*for_users(CHAT_DELETED, chat, members), Change(CHAT_DELETED, chat)]


T = TypeVar("T")


class Written(NamedTuple, Generic[T]):
    """What a write's work returns: its result, and the changes to log in its transaction."""

    result: T
    changes: list[Change]


class LogEntry(NamedTuple):
    """A change as the log holds it, with the message it refers to as it is now."""

    pos: int
    type: str
    chat: ChatId | None
    user: UserId | None  # addressed to this user; None: to the chat
    seq: int | None
    message: Message | None  # message.*: None once its chat is deleted


class LogPage(NamedTuple):
    entries: list[LogEntry]
    last_pos: int  # the log's end in the same snapshot: nothing up to it is missing
    more: bool  # cut at its limit: read again after the last entry


class Membership(NamedTuple):
    joined_pos: int
    last_read_seq: int
    mention_count: int = 0  # unread messages that mention the member


class ChatState(NamedTuple):
    """A chat as it is now, for rendering chat events to each recipient."""

    info: ChatInfo  # as a non-member sees it (no read marker)
    members: dict[UserId, Membership]


class StreamEvent(NamedTuple):
    """A logged change as one user's stream shows it, with what it refers to as it is now."""

    pos: int
    type: str
    chat: ChatId | None
    seq: int | None
    message: Message | None  # message.*: the message (a tombstone once deleted)
    chat_info: ChatInfo | None  # chat.created/updated, member.added: the chat as seen now
    viewer: UserId | None = None  # whose stream: a message's mentions and reactions say "me"
