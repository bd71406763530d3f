"""Keeping a network broker connected: the one reconnect loop behind postgres:// and redis://.

A broker's server may be down when chatd starts, restart, or hang. `ReconnectingBroker` keeps
the wanted topics apart from any connection, and one background task cycles through

    connect (bounded) -> subscribe every wanted topic -> up: hints flow, publishes go out
      -> lost: the server closed the connection, a keep-alive went unanswered, or a publish or
         subscribe failed or timed out -> close everything -> wait (backoff) -> connect ...

A `Link` is one connection's worth of a broker (postgres: a listening and a publishing
connection; redis: a pub/sub connection and a publishing client). A link is never repaired:
the first failure marks it lost, and the next link starts from the wanted set, so a subscription
that failed half-way is never taken for one in effect. An outage is logged once when it starts
and once when it ends, without a traceback; the retries in between log at debug level.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import random
from collections.abc import Awaitable, Collection, Iterator
from typing import Any

from chatd import metrics
from chatd.realtime.broker import (
    BrokerUnavailable,
    Notify,
    Reconnected,
    Signalled,
    check_signal,
)

log = logging.getLogger("chatd.realtime")

# Recovery should be seen within a couple of seconds, and a hung server must not hold a caller
# longer than that: every wait on the server is bounded by one of these.
FIRST_DELAY = 0.1
MAX_DELAY = 2.0
ATTEMPT_TIMEOUT = 5.0  # connect and subscribe every wanted topic
SUBSCRIBE_TIMEOUT = 2.0
PUBLISH_TIMEOUT = 1.0
KEEPALIVE_EVERY = 1.0
KEEPALIVE_TIMEOUT = 2.0
CLOSE_TIMEOUT = 1.0


def delays(first: float = FIRST_DELAY, cap: float = MAX_DELAY) -> Iterator[float]:
    """Doubling waits up to `cap`, each shortened at random by up to half: instances that lost
    the same server do not all knock on it at the same moment."""
    delay = first
    while True:
        yield random.uniform(delay / 2, delay)
        delay = min(delay * 2, cap)


def describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class Link(abc.ABC):
    """One connection's worth of a broker, from connect to lost; lost is for good."""

    def __init__(self) -> None:
        self.topics: set[str] = set()  # subscribed and in effect on this link
        self.lost = asyncio.Event()
        self.error: BaseException | None = None

    def fail(self, error: BaseException) -> None:
        if self.error is None:
            self.error = error
        self.lost.set()

    @abc.abstractmethod
    async def connect(self) -> None: ...

    @abc.abstractmethod
    async def subscribe(self, topics: Collection[str]) -> None:
        """Returns once hints of these topics are heard."""

    @abc.abstractmethod
    async def unsubscribe(self, topics: Collection[str]) -> None: ...

    @abc.abstractmethod
    async def publish(self, topics: Collection[str], pos: int) -> None: ...

    @abc.abstractmethod
    async def signal(self, topics: Collection[str], payload: str) -> None: ...

    @abc.abstractmethod
    async def check(self) -> None:
        """A round trip on the listening connection."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Closes whatever is open, at once; may be called more than once."""


async def _on(link: Link, operation: Awaitable[None], within: float) -> BaseException | None:
    """Runs an operation on the link; a failure or a timeout marks the link lost."""
    try:
        async with asyncio.timeout(within):
            await operation
    except TimeoutError as error:
        link.fail(error if str(error) else TimeoutError(f"no answer within {within:g} s"))
        return link.error
    except Exception as error:
        link.fail(error)
        return error
    return None


class ReconnectingBroker(abc.ABC):
    """The Broker protocol (realtime/broker.py) over links made by `_new_link`."""

    def __init__(self, name: str) -> None:
        self.name = name  # the URL for logs, without its password
        self._wanted: set[str] = set()
        self._link: Link | None = None  # up: every wanted topic subscribed
        self._current: Link | None = None  # being connected, or up: closed by close()
        self._settled = asyncio.Event()  # no connection attempt under way
        self._settled.set()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._notify: Notify | None = None
        self._signalled: Signalled | None = None
        self._reconnected: Reconnected | None = None

    @abc.abstractmethod
    def _new_link(self) -> Link:
        """A link (not connected yet) that hands what it hears to `self._heard`, and the
        signals to `self._signal_heard`."""

    @property
    def connected(self) -> bool:
        link = self._link
        return link is not None and not link.lost.is_set()

    async def start(
        self, notify: Notify, reconnected: Reconnected, signalled: Signalled | None = None
    ) -> None:
        self._notify, self._reconnected, self._signalled = notify, reconnected, signalled
        metrics.broker_state(self.name, connected=False)  # until the first connection
        self._settled.clear()  # a subscribe right after start waits for the first attempt
        self._task = asyncio.create_task(self._run(), name=f"broker {self.name}")

    async def subscribe(self, topics: Collection[str]) -> None:
        self._wanted.update(topics)
        deadline = asyncio.get_running_loop().time() + SUBSCRIBE_TIMEOUT
        try:
            async with asyncio.timeout_at(deadline):
                # An attempt under way subscribes every wanted topic, these too, or fails.
                await self._settled.wait()
        except TimeoutError:
            return
        link = self._link
        if link is None or link.lost.is_set():
            return  # down: the next link subscribes them
        missing = sorted(set(topics) - link.topics)
        timeout = max(deadline - asyncio.get_running_loop().time(), 0.1)
        if missing and await _on(link, link.subscribe(missing), timeout) is None:
            link.topics.update(t for t in missing if t in self._wanted)

    async def unsubscribe(self, topics: Collection[str]) -> None:
        self._wanted.difference_update(topics)
        link = self._link
        if link is None or link.lost.is_set():
            return
        gone = sorted(link.topics.intersection(topics))
        if gone:
            link.topics.difference_update(gone)
            await _on(link, link.unsubscribe(gone), SUBSCRIBE_TIMEOUT)

    async def publish(self, topics: Collection[str], pos: int) -> None:
        link = self._link
        if link is None or link.lost.is_set():
            raise BrokerUnavailable(f"broker {self.name} is not connected")
        if not topics:
            return
        error = await _on(link, link.publish(topics, pos), PUBLISH_TIMEOUT)
        if error is not None:
            raise BrokerUnavailable(f"broker {self.name}: {describe(error)}") from error

    async def signal(self, topics: Collection[str], payload: str) -> None:
        check_signal(payload)
        link = self._link
        if link is None or link.lost.is_set():
            raise BrokerUnavailable(f"broker {self.name} is not connected")
        if not topics:
            return
        error = await _on(link, link.signal(topics, payload), PUBLISH_TIMEOUT)
        if error is not None:
            raise BrokerUnavailable(f"broker {self.name}: {describe(error)}") from error

    async def close(self) -> None:
        self._closing = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait({task}, timeout=CLOSE_TIMEOUT)
            crashed = task.exception() if task.done() and not task.cancelled() else None
            if crashed is not None:
                log.error("broker %s had stopped: %s", self.name, describe(crashed))
        self._link = None
        if self._current is not None:
            await self._discard(self._current)
        self._settled.set()
        self._notify = self._reconnected = self._signalled = None
        metrics.broker_state(self.name, connected=None)

    def _heard(self, topic: str, pos: int) -> None:
        # A hint of a topic just unsubscribed may still be on its way: not wanted, not passed.
        if topic in self._wanted and self._notify is not None:
            self._notify(topic, pos)

    def _signal_heard(self, topic: str, payload: str) -> None:
        if topic in self._wanted and self._signalled is not None:
            self._signalled(topic, payload)

    async def _run(self) -> None:
        was_up = False  # a link has been up: the next one is a reconnection
        outage = False  # an outage was logged, and its end not yet
        waits = delays()
        while not self._closing:  # should a cancellation be swallowed on the way
            link = self._current = self._new_link()
            error = await self._connect(link)
            if error is not None:
                if outage:
                    log.debug("broker %s still unreachable (%s)", self.name, describe(error))
                else:
                    log.warning(
                        "broker %s unreachable (%s); connecting in the background",
                        *(self.name, describe(error)),
                    )
                    outage = True
                await asyncio.sleep(next(waits))
                continue
            waits = delays()
            metrics.broker_state(self.name, connected=True)
            self._log_up(len(link.topics), outage, was_up)
            if was_up or outage:  # hints of the time without a connection were not heard
                self._call_reconnected()
            was_up, outage = True, False
            error = await self._watch(link)
            self._link = None
            metrics.broker_state(self.name, connected=False)
            log.warning(
                "broker %s lost (%s); reconnecting in the background", self.name, describe(error)
            )
            outage = True
            await self._discard(link)
            await asyncio.sleep(next(waits))

    async def _connect(self, link: Link) -> BaseException | None:
        """Connects the link and subscribes every wanted topic; up when it returns None."""
        self._settled.clear()
        try:
            async with asyncio.timeout(ATTEMPT_TIMEOUT):
                await link.connect()
                await self._apply(link)
        except Exception as error:
            self._settled.set()
            await self._discard(link)
            if isinstance(error, TimeoutError) and not str(error):
                return TimeoutError(f"no answer within {ATTEMPT_TIMEOUT:g} s")
            return error
        self._link = link
        self._settled.set()
        return None

    async def _apply(self, link: Link) -> None:
        """Subscribes every wanted topic on a new link, those wanted meanwhile too: when it
        returns, the link's topics are the wanted set."""
        while True:
            extra = link.topics - self._wanted
            if extra:
                link.topics -= extra
                await link.unsubscribe(sorted(extra))
            missing = self._wanted - link.topics
            if not missing:
                break
            await link.subscribe(sorted(missing))
            link.topics |= missing
        if link.lost.is_set():
            raise link.error or ConnectionError("lost while subscribing")

    async def _watch(self, link: Link) -> BaseException:
        """Returns why the link was lost: a server that closes the connection marks it at
        once; a hung one is found by the keep-alive."""
        lost: asyncio.Future[Any] = asyncio.ensure_future(link.lost.wait())
        check: asyncio.Future[Any] | None = None
        try:
            while not link.lost.is_set():
                await asyncio.wait({lost}, timeout=KEEPALIVE_EVERY)
                if not link.lost.is_set():
                    check = asyncio.ensure_future(_on(link, link.check(), KEEPALIVE_TIMEOUT))
                    # Lost meanwhile (a publish timed out): no reason to wait for the check.
                    await asyncio.wait({check, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (lost, check):
                if task is not None:
                    task.cancel()
        return link.error or ConnectionError("connection lost")

    async def _discard(self, link: Link) -> None:
        link.fail(ConnectionError("closed"))
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await link.close()
        except Exception as error:
            log.debug("broker %s: closing failed (%s)", self.name, describe(error))
        if self._current is link:
            self._current = None

    def _log_up(self, topics: int, outage: bool, was_up: bool) -> None:
        if was_up:
            log.info("broker %s reconnected; %d topics subscribed again", self.name, topics)
        elif outage:
            log.info("broker %s connected; %d topics subscribed", self.name, topics)
        else:
            log.info("broker %s connected", self.name)

    def _call_reconnected(self) -> None:
        if self._reconnected is None:
            return
        try:
            self._reconnected()
        except Exception:  # the hub's bug, not the broker's: keep the broker running
            log.exception("broker %s: the reconnected callback failed", self.name)
