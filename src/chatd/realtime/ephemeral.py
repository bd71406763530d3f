"""Signals: what the stream shows but never logs (typing, presence), carried by the broker.

    an instance                                        each instance subscribed to a topic
    Signals.offer(topics, payload)                     Hub._signalled(topic, payload)
      -> one task -> broker.signal(topics, payload) ->   -> the handler of the payload's "type"
                                                           -> Follower.signal(text), local only

Unlike a hint, a signal is its own content: there is no log to read it back from, so one that
is lost (the broker down or slow, the queue full, a client's queue full) is simply lost, and
nothing waits for it or raises because of it. `offer` never blocks and never raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Collection

from chatd.realtime.broker import Broker

log = logging.getLogger("chatd.realtime")

MAX_PENDING = 10_000  # signals waiting for the broker; beyond that they are dropped


class Signals:
    """Sends signals through the broker from one task, so that no caller waits for it."""

    def __init__(self, broker: Broker) -> None:
        self._broker = broker
        self._pending: deque[tuple[Collection[str], str]] = deque()
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.sent = 0
        self.dropped = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def offer(self, topics: Collection[str], payload: str) -> None:
        """Queues the signal for every instance subscribed to one of `topics`."""
        if not topics:
            return
        if len(self._pending) >= MAX_PENDING or not self._broker.connected:
            self.dropped += 1  # down: sending it later would only show something stale
            return
        self._pending.append((topics, payload))
        self._ready.set()

    async def _run(self) -> None:
        while True:
            await self._ready.wait()
            self._ready.clear()
            while self._pending:
                topics, payload = self._pending.popleft()
                try:
                    await self._broker.signal(topics, payload)
                except Exception as exc:  # the broker logs its outages; a signal is not worth one
                    self.dropped += 1
                    log.debug("a signal was dropped: %s", exc)
                else:
                    self.sent += 1
