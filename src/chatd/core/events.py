"""The change log's vocabulary: what happened, in which chat, and who hears of it.

Every write appends its changes to the log in its own transaction (storage/changes.py); the
log gives each a position `pos`, strictly increasing in commit order, and a user's stream is the
log filtered to what concerns them:

    addressed to the chat          the chat's current members hear of it (one row, however many
      message.created/edited/deleted    members: a send costs the same in any chat)
      chat.updated
    addressed to one user          that user hears of it (membership changes, whose audience
      chat.created, member.added        is not the chat's current members; the user's own read
      member.removed, chat.deleted      marker; being blocked)
      chat.read, user.blocked

`user.blocked` is never shown to clients: it closes the user's streams.
"""

from __future__ import annotations

from typing import Generic, NamedTuple, TypeVar

from chatd.core.models import ChatId, ChatInfo, Message, MessageId, UserId

MESSAGE_CREATED = "message.created"
MESSAGE_EDITED = "message.edited"
MESSAGE_DELETED = "message.deleted"
CHAT_CREATED = "chat.created"
CHAT_UPDATED = "chat.updated"
CHAT_DELETED = "chat.deleted"
MEMBER_ADDED = "member.added"
MEMBER_REMOVED = "member.removed"
CHAT_READ = "chat.read"
USER_BLOCKED = "user.blocked"

TYPES = (
    MESSAGE_CREATED,
    MESSAGE_EDITED,
    MESSAGE_DELETED,
    CHAT_CREATED,
    CHAT_UPDATED,
    CHAT_DELETED,
    MEMBER_ADDED,
    MEMBER_REMOVED,
    CHAT_READ,
)
MESSAGE_TYPES = frozenset({MESSAGE_CREATED, MESSAGE_EDITED, MESSAGE_DELETED})
# Events that show the chat as the recipient now sees it.
CHAT_TYPES = frozenset({CHAT_CREATED, CHAT_UPDATED, MEMBER_ADDED})


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
        return f"u{self.user}" if self.user is not None else f"c{self.chat}"


def for_users(type_: str, chat: ChatId, users: list[UserId] | set[UserId]) -> list[Change]:
    """The same change addressed to each of `users`."""
    return [Change(type_, chat, user) for user in sorted(users)]


T = TypeVar("T")


class Written(NamedTuple, Generic[T]):
    """What a write's work returns: its result, and the changes to log in its transaction."""

    result: T
    changes: list[Change]


class StreamEvent(NamedTuple):
    """A logged change as one user's stream shows it, with what it refers to as it is now."""

    pos: int
    type: str
    chat: ChatId | None
    seq: int | None
    message: Message | None  # message.*: the message (a tombstone once deleted)
    chat_info: ChatInfo | None  # chat.created/updated, member.added: the chat as seen now


class StreamPage(NamedTuple):
    events: list[StreamEvent]
    checked: int  # every change up to this pos has been looked at for this user
    more: bool  # the page was cut at its limit: read again from `checked`
