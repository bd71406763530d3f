"""One client's stream: catch up from the change log, then take the hub's changes live.

Catching up, the session reads its user's own changes from the log (an indexed read per page)
and sends them. When a read finds nothing more, it asks the hub, in one step without an await,
for what the hub has offered since (`Hub.handover`), and from then on the hub offers it every
change in log order; so nothing is skipped at the seam, and what the session sees twice it
drops by position. Live, it keeps at most MAX_QUEUED frames for a client that reads slowly;
beyond that it drops them and catches up from the log again: a slow client falls behind in the
log, not in memory. Its sends wait at most the endpoint's send timeout (then it closes).

The session's audience (which chats it hears) follows the user's membership changes in log
order, whether they come from its own reads or from the hub, and its broker topics follow the
audience.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import Protocol

from chatd import metrics
from chatd.core import events, stream
from chatd.core.events import ChatState, LogEntry, StreamEvent
from chatd.core.ports import Store
from chatd.realtime.hub import Hub, PageContext

MAX_QUEUED = 256
# In the queue, in place of a frame: a change to check against the user's state first.
_BLOCKED = ""  # user.blocked
_ROLE = "\0"  # user.role


class Outbox(Protocol):
    def encode(self, event: StreamEvent) -> str: ...

    async def send(self, text: str) -> None: ...

    async def resync(self, pos: int) -> None: ...


class UserBlocked(Exception):
    """The user is blocked: their streams end."""


class Session:
    # An idle socket keeps its session for hours: no deque, no Event (each holds a ~600-byte
    # deque block), only a list and a future while waiting.
    __slots__ = (
        "_chats",
        "_hub",
        "_outbox",
        "_queue",
        "_store",
        "_waiting",
        "audience",
        "checked",
        "live",
    )

    def __init__(
        self,
        store: Store,
        hub: Hub,
        user: int,
        moderator: bool,
        after: int,
        outbox: Outbox,
        chats: Collection[int] | None = None,
    ) -> None:
        # The user's chats as read before `ready`: a typing frame sent right after it is
        # checked against them (the first catch-up takes them instead of reading them again).
        self.audience = stream.Audience(user, moderator, chats or ())
        self._chats: Collection[int] | None = chats
        self.checked = after  # every change up to here was looked at (and sent if it was ours)
        self.live = False
        self._store = store
        self._hub = hub
        self._outbox = outbox
        self._queue: list[tuple[int, str]] = []
        self._waiting: asyncio.Future[None] | None = None

    async def run(self) -> None:
        """Streams until cancelled. Raises UserBlocked."""
        try:
            while True:
                if not self.live:
                    await self._catch_up()
                await self._drain()
        finally:
            self._hub.leave(self, self.live)

    async def _catch_up(self) -> None:
        user = self.audience.user
        # A moderator's too: they hear every chat, but typing and presence of their own only.
        chats = self._chats
        if chats is None:
            chats = await self._store.user_chat_ids(user)
        self._chats = None
        self.audience = stream.Audience(user, self.audience.moderator, chats)
        # Topics before the first read: a change after it is hinted, not only swept.
        await self._hub.follow(self)
        while True:
            try:
                page = await stream.read_page(self._store, self.audience, self.checked)
            except stream.ResyncRequired as exc:
                await self._outbox.resync(exc.pos)
                self.checked = exc.pos
                return await self._catch_up()  # membership changes may have been pruned
            needed = stream.states_needed(page.entries)
            states = await self._store.chat_states(needed) if needed else {}
            for entry in page.entries:
                self.audience.follow(entry)
                if entry.type == events.USER_BLOCKED:
                    await self._check_blocked()
                    continue
                if entry.type == events.USER_ROLE:
                    if await self._role_changed():
                        self.checked = entry.pos  # what follows was read for the other role
                        return await self._catch_up()
                    continue
                state = None if entry.chat is None else states.get(entry.chat)
                event = stream.render(entry, self.audience, state)
                if event is not None:
                    await self._outbox.send(self._outbox.encode(event))
                    metrics.event_delivered()
            self.checked = page.entries[-1].pos if page.more else max(self.checked, page.last_pos)
            self._hub.reroute(self)
            if page.more:
                continue
            missed = self._hub.handover(self.checked)  # no await from here to `live`
            if missed is None:
                continue  # the hub moved on further than it remembers: read again
            self.live = True
            context = PageContext(entry for entry, _state in missed)
            for entry, state in missed:
                self.offer(entry, state, context)
            return

    def offer(self, entry: LogEntry, state: ChatState | None, page: PageContext) -> None:
        if not self.live or entry.pos <= self.checked:
            return
        self.checked = entry.pos
        audience = self.audience
        if entry.user == audience.user and entry.type in events.JOINS | events.LEAVES:
            audience.follow(entry)
            self._hub.reroute(self)
        if not audience.hears(entry):
            return
        if entry.user is None and not audience.moderator and page.left_later(audience.user, entry):
            return
        if entry.type == events.USER_BLOCKED:
            self._push(entry.pos, _BLOCKED)
            return
        if entry.type == events.USER_ROLE:
            self._push(entry.pos, _ROLE)
            return
        event = stream.render(entry, audience, state)
        if event is None:
            return
        if entry.type in events.MESSAGE_TYPES and not page.shown_differently(entry, audience.user):
            # The same frame for every recipient but those it mentions or who reacted to it.
            text = page.frames.get(entry.pos)
            if text is None:
                text = page.frames[entry.pos] = self._outbox.encode(event)
        else:
            text = self._outbox.encode(event)
        self._push(entry.pos, text)

    def signal(self, text: str) -> None:
        """An ephemeral frame (typing, presence): queued with the changes while live and there
        is room, else dropped; never logged, never read again (realtime/ephemeral.py)."""
        if not self.live or len(self._queue) >= MAX_QUEUED:
            return
        # Its position is that of the next change: should the queue be dropped from here, the
        # log is read again after the last change queued before it.
        self._queue.append((self.checked + 1, text))
        waiting = self._waiting
        if waiting is not None and not waiting.done():
            waiting.set_result(None)

    def _push(self, pos: int, text: str) -> None:
        if len(self._queue) >= MAX_QUEUED:
            # The client reads too slowly: forget the queue, read the log again from the first
            # change it did not get.
            self.checked = self._queue[0][0] - 1
            self._queue.clear()
            self.live = False
            self._hub.fell_behind()
        else:
            self._queue.append((pos, text))
        waiting = self._waiting
        if waiting is not None and not waiting.done():
            waiting.set_result(None)

    async def _drain(self) -> None:
        while self.live:
            if not self._queue:
                self._waiting = asyncio.get_running_loop().create_future()
                try:
                    await self._waiting
                finally:
                    self._waiting = None
                continue
            queued, self._queue = self._queue, []
            for index, (pos, text) in enumerate(queued):
                if not self.live:
                    # Fell behind while sending: the log has the rest, from this one on (the
                    # queue that overflowed starts after it).
                    self.checked = min(self.checked, pos - 1)
                    return
                try:
                    if text == _BLOCKED:
                        await self._check_blocked()
                    elif text == _ROLE:
                        if await self._role_changed():
                            # What came after was chosen for the other role: read it again.
                            self.checked = pos
                            self._queue.clear()
                            if self.live:
                                self.live = False
                                self._hub.fell_behind()
                            return
                    else:
                        await self._outbox.send(text)
                        metrics.event_delivered()
                except BaseException:
                    self._queue[:0] = queued[index + 1 :]
                    raise

    async def _role_changed(self) -> bool:
        """Whether the user's role no longer is the stream's (a moderator hears every chat);
        if so, the stream takes the user's role now."""
        moderator = (await self._store.get_account(self.audience.user)).role == "moderator"
        if moderator == self.audience.moderator:
            return False
        self.audience = stream.Audience(self.audience.user, moderator, ())
        return True

    async def _check_blocked(self) -> None:
        # A block is a state, not an event: an unblocked user's resume reads past it.
        if (await self._store.get_account(self.audience.user)).blocked_at is not None:
            raise UserBlocked
