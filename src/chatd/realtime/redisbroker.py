"""The redis:// broker: Redis pub/sub, for fan-out beyond what one database should carry.

A channel per topic (`chatd:<topic>`), the position as the message, or a signal's JSON object
on the same channel (PUBLISHed by the same client: no other connection). One connection listens
and another client publishes (a pipeline of PUBLISH, one round trip); the two make one link of the
reconnecting broker (realtime/backoff.py). The listening side speaks pub/sub on a bare redis-py
Connection with our own reader rather than redis-py's PubSub, which reconnects and
resubscribes by itself where we cannot see it: here a SUBSCRIBE returns when Redis confirms
it, a PING on the same connection is the keep-alive, and a read error marks the link lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import urllib.parse
from collections import deque
from collections.abc import Collection, Iterable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from chatd.realtime.backoff import ATTEMPT_TIMEOUT, Link, ReconnectingBroker
from chatd.realtime.broker import Notify, Signalled

PREFIX = "chatd:"


def redacted(url: str) -> str:
    """The URL without its password, for logs."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = f"{parts.username or ''}:***@{netloc.rpartition('@')[2]}"
    query = urllib.parse.urlencode(
        [(k, "***" if k == "password" else v) for k, v in urllib.parse.parse_qsl(parts.query)],
        safe="*",
    )
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc, query=query))


def _settle(waiting: deque[asyncio.Future[None]]) -> None:
    """Redis answers in order: the reply is for the oldest waiter (or one that gave up)."""
    if waiting:
        future = waiting.popleft()
        if not future.done():
            future.set_result(None)


def _forget(futures: Iterable[asyncio.Future[None]]) -> None:
    for future in futures:
        if not future.done():
            future.cancel()  # stays queued, so that the replies still pair up in order
        elif not future.cancelled():
            future.exception()  # seen: asyncio would log it as never retrieved


class _RedisLink(Link):
    def __init__(self, url: str, heard: Notify, signalled: Signalled) -> None:
        super().__init__()
        self._url = url
        self._heard = heard
        self._signalled = signalled
        self._listener: AbstractConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._publisher: Redis | None = None
        self._confirming: dict[str, deque[asyncio.Future[None]]] = {}
        self._pongs: deque[asyncio.Future[None]] = deque()

    async def connect(self) -> None:
        # RESP2 unless the URL asks for 3 (then its pushes come back through push_request).
        pool = ConnectionPool.from_url(
            self._url, socket_connect_timeout=ATTEMPT_TIMEOUT, protocol=2
        )
        self._listener = pool.make_connection()  # type: ignore[no-untyped-call]
        await self._listener.connect()
        self._reader = asyncio.create_task(self._read())
        # No retries inside redis-py: a failure must reach the link, which reconnects.
        self._publisher = Redis.from_url(
            self._url, socket_connect_timeout=ATTEMPT_TIMEOUT, retry=Retry(NoBackoff(), 0)
        )
        await self._publisher.ping()

    def fail(self, error: BaseException) -> None:
        super().fail(error)
        for waiting in (*self._confirming.values(), self._pongs):
            for future in waiting:
                if not future.done():
                    future.set_exception(ConnectionError("the connection was lost"))
        self._confirming.clear()
        self._pongs.clear()

    async def _read(self) -> None:
        assert self._listener is not None
        try:
            while True:
                self._dispatch(await self._listener.read_response(push_request=True))
        except Exception as error:
            self.fail(error)

    def _dispatch(self, reply: Any) -> None:
        if reply == b"PONG":  # a PING while subscribed to nothing
            _settle(self._pongs)
            return
        kind, name = reply[0], reply[1].decode()
        if kind == b"message" and reply[2].startswith(b"{"):
            with contextlib.suppress(UnicodeDecodeError):
                self._signalled(name.removeprefix(PREFIX), reply[2].decode())
        elif kind == b"message":
            with contextlib.suppress(ValueError):  # someone else's message on our channel
                self._heard(name.removeprefix(PREFIX), int(reply[2]))
        elif kind == b"subscribe":
            waiting = self._confirming.get(name)
            if waiting is not None:
                _settle(waiting)
                if not waiting:
                    del self._confirming[name]
        elif kind == b"pong":
            _settle(self._pongs)

    async def _send(self, *args: str) -> None:
        listener = self._listener
        # redis-py would quietly open a new connection if this one were closed: not here.
        if listener is None or self.lost.is_set() or not listener.is_connected:
            raise ConnectionError("the connection was lost")
        await listener.send_command(*args)

    async def subscribe(self, topics: Collection[str]) -> None:
        loop = asyncio.get_running_loop()
        channels = [PREFIX + topic for topic in topics]
        confirmed = [loop.create_future() for _ in channels]
        for name, future in zip(channels, confirmed, strict=True):
            self._confirming.setdefault(name, deque()).append(future)
        try:
            await self._send("SUBSCRIBE", *channels)
            # Redis confirms a SUBSCRIBE once it is in effect: hints published after are heard.
            await asyncio.gather(*confirmed)
        finally:
            _forget(confirmed)

    async def unsubscribe(self, topics: Collection[str]) -> None:
        await self._send("UNSUBSCRIBE", *(PREFIX + topic for topic in topics))

    async def publish(self, topics: Collection[str], pos: int) -> None:
        assert self._publisher is not None
        async with self._publisher.pipeline(transaction=False) as pipe:
            for topic in topics:
                pipe.publish(PREFIX + topic, pos)
            await pipe.execute()

    async def signal(self, topics: Collection[str], payload: str) -> None:
        assert self._publisher is not None
        async with self._publisher.pipeline(transaction=False) as pipe:
            for topic in topics:
                pipe.publish(PREFIX + topic, payload)
            await pipe.execute()

    async def check(self) -> None:
        pong: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pongs.append(pong)
        try:
            await self._send("PING")
            await pong
        finally:
            _forget([pong])

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            # asyncio.wait, not await: a cancellation of our caller must not be swallowed too.
            await asyncio.wait({self._reader})
        if self._listener is not None:
            await self._listener.disconnect(nowait=True)
        if self._publisher is not None:
            await self._publisher.aclose()


class RedisBroker(ReconnectingBroker):
    def __init__(self, url: str) -> None:
        super().__init__(redacted(url))
        self._url = url

    def _new_link(self) -> Link:
        return _RedisLink(self._url, self._heard, self._signal_heard)
