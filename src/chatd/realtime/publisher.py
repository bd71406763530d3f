"""Hints out to the broker after commit, without ever making a write wait for the broker.

A write's reply must not depend on a dependency that only carries hints: a hung Redis once made
every POST take 5 s. `offer` only records the hint; one task sends what is pending, a topic's
hints merged into one (the latest position says all the earlier ones did: "something up to
pos"). While the broker is down or slow, hints wait here, at most MAX_PENDING topics of them;
beyond that, and when a publish fails, they are dropped and counted: every instance's sweep
reads the log anyway, so a dropped hint delays delivery by at most the sweep interval.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable

from chatd import metrics
from chatd.realtime.broker import ALL, Broker

MAX_PENDING = 10_000


class Publisher:
    def __init__(self, broker: Broker) -> None:
        self._broker = broker
        self._pending: dict[str, int] = {}
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.published = 0  # hints sent, one per topic
        self.dropped = 0  # hints given up: the sweep delivers what they would have

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def offer(self, topics: Iterable[str], pos: int) -> None:
        """Queues the hint "`pos` was logged under these topics" (and under ALL, which
        moderators' streams follow). Never blocks."""
        pending = self._pending
        for topic in (*topics, ALL):
            if topic in pending:
                pending[topic] = max(pending[topic], pos)
            elif len(pending) < MAX_PENDING:
                pending[topic] = pos
            else:
                self.dropped += 1
                metrics.hints_dropped(1)
        self._ready.set()

    async def _run(self) -> None:
        while True:
            await self._ready.wait()
            self._ready.clear()
            while self._pending:
                batch, self._pending = self._pending, {}
                try:
                    await self._broker.publish(list(batch), max(batch.values()))
                except Exception:  # the broker logs its outages, once each; the sweep covers
                    self.dropped += len(batch)
                    metrics.hints_dropped(len(batch))
                else:
                    self.published += len(batch)
