"""Brokers: how server instances tell each other "something new was logged under this topic".

The database's change log is the source of truth; a broker carries only (topic, pos) hints, so
a lost hint delays delivery (until the hub's sweep) but never loses an event. Next to the hints
it carries signals: a small JSON object under a topic (typing, presence: realtime/ephemeral.py),
which is never logged, so a lost signal is simply lost (no sweep, no replay). Topics are `c<id>`
(a chat's members), `u<id>` (one user) and `*` (every chat's changes: moderators' streams); an
instance subscribes only to the topics of the users connected to it, so it hears of what its
clients need, not of every change.

A broker is a dependency that fails: it may be down when chatd starts, restart, or hang. It never
takes chatd down with it. It connects in the background, retrying with backoff (one log line
when it goes, one when it is back); it keeps the set of topics its hub wants and subscribes all
of them on every (re)connection, then calls `reconnected` so the hub reads the log for the hints
it missed meanwhile. While it is down, `subscribe` returns at once (the sweep covers) and
`publish` raises (the hub's publisher counts the hint as dropped).

Picked by URL, like encode/broadcaster:
    memory://      one process (the default)
    postgres://    LISTEN/NOTIFY on chatd's own PostgreSQL database (or the URL's)
    redis://host   Redis pub/sub
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Collection
from typing import Protocol

from chatd import metrics
from chatd.core.events import ALL_TOPIC

Notify = Callable[[str, int], None]  # (topic, pos): called on the event loop
Signalled = Callable[[str, str], None]  # (topic, a signal's JSON object text): on the event loop
Reconnected = Callable[[], None]  # every wanted topic is subscribed again: hints may be missing

ALL = ALL_TOPIC  # the topic every change is also published under (moderators hear every chat)
# A PostgreSQL NOTIFY payload must be shorter than 8000 bytes; every broker holds signals to it,
# so that a signal means the same whichever broker carries it.
SIGNAL_MAX_BYTES = 7999


def check_signal(payload: str) -> None:
    """Raises ValueError unless the payload can be a signal: a JSON object's text (hints are
    digits, so the two never mix on a channel) of at most SIGNAL_MAX_BYTES."""
    if not payload.startswith("{") or len(payload.encode()) > SIGNAL_MAX_BYTES:
        raise ValueError(f"a signal is a JSON object of at most {SIGNAL_MAX_BYTES} bytes")


class BrokerUnavailable(Exception):
    """The broker cannot take a publish now (down, or not connected yet)."""


class Broker(Protocol):
    @property
    def connected(self) -> bool:
        """Whether hints are flowing now (False while down or reconnecting)."""
        ...

    async def start(
        self, notify: Notify, reconnected: Reconnected, signalled: Signalled | None = None
    ) -> None:
        """Starts connecting in the background and returns at once: never raises because the
        broker is unreachable. `notify` hears every hint of a subscribed topic, `signalled`
        every signal; `reconnected` is called after every connection that ends a time without
        one (a reconnection, or a first connection made late), once every wanted topic is
        subscribed."""
        ...

    async def subscribe(self, topics: Collection[str]) -> None:
        """Adds the topics to the wanted set. Returns once hints of these topics published from
        now on will be heard, or sooner (at once while the broker is down, or after a few
        seconds of a hung broker): the topics are then subscribed when it returns. Never
        raises."""
        ...

    async def unsubscribe(self, topics: Collection[str]) -> None:
        """Removes the topics from the wanted set. Never raises."""
        ...

    async def publish(self, topics: Collection[str], pos: int) -> None:
        """Tells every subscribed instance, this one included, that `pos` was logged under
        each topic. Raises BrokerUnavailable (or the client's error) when it cannot; bounded
        in time (a hung broker raises after a few seconds)."""
        ...

    async def signal(self, topics: Collection[str], payload: str) -> None:
        """Hands the signal (see `check_signal`) to every instance subscribed to one of the
        topics, this one included, once per topic; at most once, and maybe not at all. Raises
        like `publish` (and ValueError for a payload that cannot be a signal)."""
        ...

    async def close(self) -> None: ...


class MemoryBroker:
    """One process: hints go straight to the hub, on the next turn of the event loop."""

    connected = True

    def __init__(self) -> None:
        self._notify: Notify | None = None
        self._signalled: Signalled | None = None
        self._topics: set[str] = set()

    async def start(
        self, notify: Notify, reconnected: Reconnected, signalled: Signalled | None = None
    ) -> None:
        self._notify = notify
        self._signalled = signalled
        metrics.broker_state("memory://", connected=True)

    async def subscribe(self, topics: Collection[str]) -> None:
        self._topics.update(topics)

    async def unsubscribe(self, topics: Collection[str]) -> None:
        self._topics.difference_update(topics)

    async def publish(self, topics: Collection[str], pos: int) -> None:
        notify = self._notify
        if notify is None:
            return
        loop = asyncio.get_running_loop()
        for topic in topics:
            if topic in self._topics:
                loop.call_soon(notify, topic, pos)

    async def signal(self, topics: Collection[str], payload: str) -> None:
        check_signal(payload)
        signalled = self._signalled
        if signalled is None:
            return
        loop = asyncio.get_running_loop()
        for topic in topics:
            if topic in self._topics:
                loop.call_soon(signalled, topic, payload)

    async def close(self) -> None:
        self._notify = self._signalled = None
        metrics.broker_state("memory://", connected=None)


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


async def publish_once(
    url: str, database_url: str, topics: Collection[str], pos: int, wait: float = 5.0
) -> bool:
    """Publishes one hint from a process that has no hub (a command-line tool), waiting up to
    `wait` seconds for the broker. False when it could not: the servers' sweep delivers."""
    if not topics or url.startswith("memory:"):
        return True  # memory:// reaches no other process: the servers' sweep is the way
    broker = open_broker(url, database_url)
    await broker.start(lambda _topic, _pos: None, lambda: None)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    try:
        for _attempt in itertools.count():
            try:
                await broker.publish({*topics, ALL}, pos)
                return True
            except Exception:  # not connected yet, or failing
                if loop.time() > deadline:
                    return False  # the servers' sweep covers it
                await asyncio.sleep(0.05)
    finally:
        await broker.close()
    raise AssertionError("unreachable")
