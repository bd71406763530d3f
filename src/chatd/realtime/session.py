"""One client's stream: catch up from the change log, then follow it as the hub wakes us.

The session joins the hub (subscribing to its topics) before its first read, so a change is
either committed before that read, and read, or committed after it, and hinted. Every read
starts where the last one stopped (`checked`), so nothing is sent twice and, as positions are
given out in commit order, nothing is skipped. Nothing is queued per session: a slow client
only falls behind in the log, and its sends time out (the endpoint closes it).
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from chatd.core import events, stream
from chatd.core.events import StreamEvent
from chatd.core.ports import Store
from chatd.realtime.hub import Hub, topics_of


class Outbox(Protocol):
    async def event(self, event: StreamEvent) -> None: ...

    async def resync(self, pos: int) -> None: ...


class UserBlocked(Exception):
    """The user was blocked: their streams end."""


class Session:
    def __init__(self, store: Store, hub: Hub, user: int, after: int, outbox: Outbox) -> None:
        self.user = user
        self.checked = after  # every change up to here was looked at (and sent if it was ours)
        self._store = store
        self._hub = hub
        self._outbox = outbox
        self._wake = asyncio.Event()
        self._topics: set[str] = set()

    def poke(self, pos: int) -> None:
        if pos > self.checked:
            self._wake.set()

    async def run(self) -> None:
        """Streams until cancelled. Raises UserBlocked."""
        self._topics = await topics_of(self._store, self.user)
        await self._hub.join(self, self._topics)
        try:
            while True:
                await self._drain()
                await self._wake.wait()
        finally:
            await self._hub.leave(self, self._topics)

    async def _drain(self) -> None:
        while True:
            self._wake.clear()  # a poke from here on means: read again
            try:
                page = await stream.next_page(self._store, self.user, self.checked)
            except stream.ResyncRequired as exc:
                await self._outbox.resync(exc.pos)
                self.checked = exc.pos
                continue
            joined, left = set(), set()
            for event in page.events:
                if event.type == events.USER_BLOCKED:
                    raise UserBlocked
                await self._outbox.event(event)
                self.checked = event.pos
                if event.type in (events.CHAT_CREATED, events.MEMBER_ADDED):
                    joined.add(f"c{event.chat}")
                elif event.type in (events.MEMBER_REMOVED, events.CHAT_DELETED):
                    left.add(f"c{event.chat}")
            self.checked = max(self.checked, page.checked)
            await self._follow(joined - self._topics, left & self._topics)
            if not joined and not page.more:
                return

    async def _follow(self, joined: set[str], left: set[str]) -> None:
        # A new chat's topic is heard before the next read (the loop reads again after a join),
        # so its changes are either read or hinted.
        if joined:
            await self._hub.subscribe(self, joined)
            self._topics |= joined
        if left:
            await self._hub.unsubscribe(self, left)
            self._topics -= left
