"""The hub: this process's open streams, the broker topics they need, and who to wake.

A session subscribes to its user's topic and its chats' topics; the hub subscribes the broker to
a topic while at least one local session needs it. A hint (topic, pos) wakes the sessions of
that topic that have not looked that far yet; they read the log themselves. A sweep every few
seconds wakes every session behind the log's end, so a lost hint only delays.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Set
from typing import Protocol

from chatd.core import stream
from chatd.core.ports import Store
from chatd.realtime.broker import Broker

log = logging.getLogger("chatd.realtime")


class Waker(Protocol):
    def poke(self, pos: int) -> None:
        """Something up to `pos` was logged under one of the session's topics."""
        ...


class Hub:
    def __init__(self, broker: Broker, store: Store, sweep_every: float) -> None:
        self._broker = broker
        self._store = store
        self._sweep_every = sweep_every
        self._topics: dict[str, set[Waker]] = {}
        self._sessions: set[Waker] = set()
        self._subscribing = asyncio.Lock()
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._broker.start(self._heard)
        self._sweeper = asyncio.create_task(self._sweep())

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        await self._broker.close()

    @property
    def sessions(self) -> Set[Waker]:
        return self._sessions

    async def join(self, session: Waker, topics: Iterable[str]) -> None:
        """Returns once hints for these topics published from now on wake the session."""
        self._sessions.add(session)
        await self.subscribe(session, topics)

    async def leave(self, session: Waker, topics: Iterable[str]) -> None:
        self._sessions.discard(session)
        await self.unsubscribe(session, topics)

    async def subscribe(self, session: Waker, topics: Iterable[str]) -> None:
        async with self._subscribing:
            new = []
            for topic in topics:
                if topic not in self._topics:
                    self._topics[topic] = set()
                    new.append(topic)
                self._topics[topic].add(session)
            if new:
                await self._broker.subscribe(new)

    async def unsubscribe(self, session: Waker, topics: Iterable[str]) -> None:
        async with self._subscribing:
            gone = []
            for topic in topics:
                waiting = self._topics.get(topic)
                if waiting is None:
                    continue
                waiting.discard(session)
                if not waiting:
                    del self._topics[topic]
                    gone.append(topic)
            if gone:
                try:
                    await self._broker.unsubscribe(gone)
                except Exception:  # a broker gone away: nothing left to stop hearing
                    log.exception("unsubscribing from the broker failed")

    async def publish(self, topics: Iterable[str], pos: int) -> None:
        """Called after a write commits. A failure is logged, never raised: the write stands,
        and the sweep delivers what the hint would have."""
        try:
            await self._broker.publish(topics, pos)
        except Exception:
            log.exception("publishing to the broker failed (delivery waits for the sweep)")

    def _heard(self, topic: str, pos: int) -> None:
        for session in self._topics.get(topic, ()):
            session.poke(pos)

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_every)
            if not self._sessions:
                continue
            try:
                last, _pruned = await self._store.change_positions()
            except Exception:
                log.exception("reading the change log's end failed")
                continue
            for session in list(self._sessions):
                session.poke(last)


async def topics_of(store: Store, user: int) -> set[str]:
    """The user's own topic and the topics of their chats."""
    return {f"u{user}", *(f"c{chat}" for chat in await stream.chats_of(store, user))}
