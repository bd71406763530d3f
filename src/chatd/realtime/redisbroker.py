"""The redis:// broker: Redis pub/sub, for fan-out beyond what one database should carry.

A channel per topic (`chatd:<topic>`), the position as the message. One pub/sub connection
listens; publishing pipelines a PUBLISH per topic in one round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable

from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from chatd.realtime.broker import Notify

log = logging.getLogger("chatd.realtime")
PREFIX = "chatd:"


class RedisBroker:
    def __init__(self, url: str) -> None:
        self._url = url
        self._redis: Redis | None = None
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._notify: Notify | None = None
        # Channels whose SUBSCRIBE Redis has not confirmed yet.
        self._confirming: dict[str, asyncio.Future[None]] = {}

    async def start(self, notify: Notify) -> None:
        self._notify = notify
        self._redis = Redis.from_url(self._url)
        await self._redis.ping()
        self._pubsub = self._redis.pubsub()

    async def subscribe(self, topics: Iterable[str]) -> None:
        assert self._pubsub is not None
        channels = [PREFIX + topic for topic in topics]
        if not channels:
            return
        loop = asyncio.get_running_loop()
        waiting = [self._confirming.setdefault(c, loop.create_future()) for c in channels]
        await self._pubsub.subscribe(*channels)
        if self._reader is None:
            self._reader = asyncio.create_task(self._read())
        # Redis confirms a SUBSCRIBE once it is in effect: hints published after are heard.
        await asyncio.wait_for(asyncio.gather(*waiting), timeout=10)

    async def unsubscribe(self, topics: Iterable[str]) -> None:
        channels = [PREFIX + topic for topic in topics]
        if channels and self._pubsub is not None:
            await self._pubsub.unsubscribe(*channels)

    async def _read(self) -> None:
        assert self._pubsub is not None
        while True:
            try:
                message = await self._pubsub.get_message(timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception:  # a dropped connection: hints are lost, the sweep covers them
                log.exception("reading from Redis failed")
                await asyncio.sleep(1.0)
                continue
            if message is None:
                continue
            channel = message["channel"].decode()
            if message["type"] == "subscribe":
                confirmed = self._confirming.pop(channel, None)
                if confirmed is not None and not confirmed.done():
                    confirmed.set_result(None)
                continue
            if message["type"] != "message":
                continue
            if self._notify is not None:
                self._notify(channel.removeprefix(PREFIX), int(message["data"]))

    async def publish(self, topics: Iterable[str], pos: int) -> None:
        if self._redis is None:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for topic in topics:
                pipe.publish(PREFIX + topic, pos)
            await pipe.execute()

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._pubsub is not None:
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        if self._redis is not None:
            await self._redis.aclose()
        self._notify = None
