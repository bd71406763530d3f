"""A user's stream of changes: where it starts, which logged changes the user hears of, and what
each one may show them.

Privacy on replay. Positions are not secrets: anyone may resume from any of them. A change is
rendered when it is read, so it refers to things as they are now; it may show the user only
what they may see now *and* could see at its position:

- changes addressed to a chat reach its members from their joining on, and only while they are
  members. Live, a member hears the chat until their `member.removed`; a replay carries a
  chat's changes only to its current members, from their latest joining, so a replay across a
  removal leaves out the chat's changes before it too (the client drops the chat at the
  `member.removed` it still gets);
- `chat.created`, `member.added` and `chat.updated` show the chat as it is now only to a user
  who has been its member from the change's position until now (or a moderator); to anyone
  else they show nothing and are left out. Nothing is lost: a user who was not a member all
  along left the chat after that position, so their stream holds a `member.removed` or
  `chat.deleted` after it, and a `member.added` with the chat as it is if they came back;
- `member.removed`, `chat.deleted` and `chat.read` carry ids and the user's own read marker only.
"""

from __future__ import annotations

from collections.abc import Iterable

from chatd.core import events
from chatd.core.events import ChatState, LogEntry, LogPage, StreamEvent
from chatd.core.models import ChatId, ChatInfo, UserId
from chatd.core.ports import ChangeLog

PAGE = 200


class ResyncRequired(Exception):
    """The requested position is outside the log (pruned, or never given out): the client must
    reload its state and follow the stream from `pos`."""

    def __init__(self, pos: int) -> None:
        super().__init__(f"resync from {pos}")
        self.pos = pos


async def start_position(store: ChangeLog, requested: int | None) -> int:
    """Where a stream starts: right after `requested`, or at the log's end when None. Raises
    ResyncRequired when `requested` was pruned or never given out."""
    last, pruned = await store.change_positions()
    if requested is None:
        return last
    if requested < pruned or requested > last:
        raise ResyncRequired(last)
    return requested


async def read_page(store: ChangeLog, audience: Audience, after: int) -> LogPage:
    """The user's next changes after `after`, oldest first. Raises ResyncRequired when the log
    was pruned past `after` meanwhile (never a partial replay)."""
    page = await store.read_user_log(audience.user, after, PAGE, everyone=audience.moderator)
    last, pruned = await store.change_positions()
    if after < pruned:
        raise ResyncRequired(last)
    return page


class Audience:
    """Whose changes one user's stream carries, followed change by change in log order: the
    user's own, and those of the chats they are a member of at each change's position (every
    chat's, for a moderator)."""

    __slots__ = ("chats", "moderator", "user")

    def __init__(self, user: UserId, moderator: bool, chats: Iterable[ChatId]) -> None:
        self.user = user
        self.moderator = moderator
        self.chats = set(chats)

    def follow(self, entry: LogEntry) -> None:
        """Takes note of a change addressed to the user that makes them join or leave a chat."""
        if entry.user == self.user and entry.chat is not None:
            if entry.type in events.JOINS:
                self.chats.add(entry.chat)
            elif entry.type in events.LEAVES:
                self.chats.discard(entry.chat)

    def hears(self, entry: LogEntry) -> bool:
        """Whether the change is in the user's stream (call `follow` first)."""
        if entry.user is not None:
            # A moderator hears of every chat's creation and deletion addressed to the chat.
            mine = entry.user == self.user
            return mine and not (self.moderator and entry.type in events.JOINS | events.LEAVES)
        return self.moderator or entry.chat in self.chats

    @property
    def topics(self) -> set[str]:
        """The broker topics under which this stream's changes are hinted."""
        if self.moderator:
            return {events.user_topic(self.user), events.ALL_TOPIC}
        return {events.user_topic(self.user), *map(events.chat_topic, self.chats)}


def render(entry: LogEntry, audience: Audience, state: ChatState | None) -> StreamEvent | None:
    """What the change shows the user (see the module's docstring), or None for nothing."""
    if entry.type in events.INTERNAL_TYPES:
        return None
    if entry.type in events.MESSAGE_TYPES:
        if entry.message is None:
            return None  # its chat was deleted since: the stream goes on to chat.deleted
        return StreamEvent(
            entry.pos, entry.type, entry.chat, entry.seq, entry.message, None, audience.user
        )
    if entry.type in events.CHAT_TYPES:
        info = view_of(state, audience, entry.pos)
        if info is None:
            return None
        return StreamEvent(entry.pos, entry.type, entry.chat, entry.seq, None, info)
    return StreamEvent(entry.pos, entry.type, entry.chat, entry.seq, None, None)


def view_of(state: ChatState | None, audience: Audience, pos: int) -> ChatInfo | None:
    """The chat as it is now, if the user may see all of it on behalf of a change at `pos`: a
    member since then (or a moderator). None otherwise, or when it no longer exists."""
    if state is None:
        return None
    member = state.members.get(audience.user)
    if member is not None and member.joined_pos <= pos:
        return state.info._replace(
            last_read_seq=member.last_read_seq,
            is_member=True,
            mention_count=member.mention_count,
        )
    if audience.moderator:
        if member is None:
            return state.info._replace(last_read_seq=0, is_member=False)
        return state.info._replace(
            last_read_seq=member.last_read_seq,
            is_member=True,
            mention_count=member.mention_count,
        )
    return None


def states_needed(entries: Iterable[LogEntry]) -> set[ChatId]:
    """The chats whose state rendering these changes needs."""
    return {e.chat for e in entries if e.type in events.CHAT_TYPES and e.chat is not None}
