"""Brokers: how server instances tell each other "something new was logged under this topic".

The database's change log is the source of truth; a broker carries only (topic, pos) hints, so
a lost hint delays delivery (until the hub's sweep) but never loses an event. Topics are `c<id>`
(a chat's members) and `u<id>` (one user); an instance subscribes only to the topics of the
users connected to it, so it hears of what its clients need, not of every change.

Picked by URL, like encode/broadcaster:
    memory://      one process (the default)
    postgres://    LISTEN/NOTIFY on chatd's own PostgreSQL database (or the URL's)
    redis://host   Redis pub/sub
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Protocol

Notify = Callable[[str, int], None]  # (topic, pos): called on the event loop


class Broker(Protocol):
    async def start(self, notify: Notify) -> None:
        """Connects; `notify` hears every hint of a subscribed topic."""
        ...

    async def subscribe(self, topics: Iterable[str]) -> None:
        """Returns once hints of these topics published from now on will be heard."""
        ...

    async def unsubscribe(self, topics: Iterable[str]) -> None: ...

    async def publish(self, topics: Iterable[str], pos: int) -> None:
        """Tells every subscribed instance, this one included, that `pos` was logged."""
        ...

    async def close(self) -> None: ...


class MemoryBroker:
    """One process: hints go straight to the hub, on the next turn of the event loop."""

    def __init__(self) -> None:
        self._notify: Notify | None = None
        self._topics: set[str] = set()

    async def start(self, notify: Notify) -> None:
        self._notify = notify

    async def subscribe(self, topics: Iterable[str]) -> None:
        self._topics.update(topics)

    async def unsubscribe(self, topics: Iterable[str]) -> None:
        self._topics.difference_update(topics)

    async def publish(self, topics: Iterable[str], pos: int) -> None:
        notify = self._notify
        if notify is None:
            return
        loop = asyncio.get_running_loop()
        for topic in topics:
            if topic in self._topics:
                loop.call_soon(notify, topic, pos)

    async def close(self) -> None:
        self._notify = None


def open_broker(url: str, database_url: str) -> Broker:
    """The broker for `url`. Raises ValueError for an unknown scheme."""
    scheme = url.partition(":")[0]
    if scheme == "memory":
        return MemoryBroker()
    if scheme in ("postgres", "postgresql"):
        from chatd.realtime.pgbroker import PostgresBroker

        return PostgresBroker(url, database_url)
    if scheme in ("redis", "rediss"):
        from chatd.realtime.redisbroker import RedisBroker

        return RedisBroker(url)
    raise ValueError(f"unsupported broker URL {url!r}: use memory://, postgres:// or redis://")
