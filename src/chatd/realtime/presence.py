"""Presence: a user is online while at least one of their streams is open on any instance.

    a stream opens    -> first of the user's here?  ------> store.arrive: first anywhere?
                         (one leaving within the grace:       -> "online" to their chats
                          nothing happens: no flap)
    a stream closes   -> last of the user's here? -> wait CHATD_PRESENCE_GRACE_SECONDS, then
                         store.depart: last anywhere? -> last_seen_at, "offline" to their chats
    every TTL/3       -> renew this instance's row; reap the instances past their TTL (killed):
                         their users nowhere else online go offline, last seen at their renewal

Only transitions write (one short transaction each, never a message's, in one task of this
instance) and only transitions are signalled: once, under each of the user's chats' topics;
each instance tells each of its streams of a co-member at most once, however many chats they
share (realtime/ephemeral.py). Only the chats' members who are connected hear of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

import orjson

from chatd.core import clock
from chatd.core.events import chat_topic
from chatd.core.models import ChatId, UserId
from chatd.realtime.hub import Hub

log = logging.getLogger("chatd.realtime")

# Seconds an instance remembers whom it told of a signal: its copies under the user's other
# chats' topics come within milliseconds of each other.
REMEMBER = 10.0

UserChats = Callable[[UserId], Awaitable[list[ChatId]]]


class PresenceStore(Protocol):
    """What presence writes (storage/presence.py): each call one short transaction."""

    async def claim(self, instance: str, now: datetime, expires_at: datetime) -> bool: ...

    async def arrive(self, user: UserId, instance: str, now: datetime) -> bool: ...

    async def depart(self, user: UserId, instance: str, now: datetime) -> bool: ...

    async def reap(self, now: datetime) -> list[tuple[UserId, datetime]]: ...

    async def withdraw(self, instance: str, expires_at: datetime) -> None: ...


class Presence:
    def __init__(
        self, hub: Hub, store: PresenceStore, user_chats: UserChats, grace: float, ttl: float
    ) -> None:
        self.instance = secrets.token_hex(8)
        self._hub = hub
        self._store = store
        self._user_chats = user_chats
        self._grace = grace
        self._ttl = ttl
        self._sockets: dict[UserId, int] = {}  # the users with a stream open here
        self._leaving: dict[UserId, asyncio.TimerHandle] = {}  # within the grace
        self._transitions: asyncio.Queue[UserId] = asyncio.Queue()  # users to bring in line
        self._arrived: set[UserId] = set()  # the users whose row for this instance is written
        self._retry: set[UserId] = set()  # a transition failed (database away): redo it
        self._told: dict[str, tuple[float, set[int]]] = {}  # signal id -> (heard, streams told)
        self._tasks: list[asyncio.Task[None]] = []
        hub.signal_handlers["presence"] = self._heard

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._write()), asyncio.create_task(self._renew())]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for handle in self._leaving.values():
            handle.cancel()
        # Our users stay online for the grace: those who reconnect elsewhere meanwhile do not
        # flap; the others are reaped by another instance (or by our successor) after it.
        with contextlib.suppress(Exception):
            expires = clock.now() + timedelta(seconds=self._grace)
            await self._store.withdraw(self.instance, expires)

    # The streams of this instance

    def opened(self, user: UserId) -> None:
        count = self._sockets.get(user, 0) + 1
        self._sockets[user] = count
        leaving = self._leaving.pop(user, None)
        if leaving is not None:
            leaving.cancel()  # back within the grace: still online, nothing to say
        if count == 1:
            self._transitions.put_nowait(user)

    def closed(self, user: UserId) -> None:
        count = self._sockets.get(user, 0) - 1
        if count > 0:
            self._sockets[user] = count
            return
        self._sockets.pop(user, None)
        loop = asyncio.get_running_loop()
        self._leaving[user] = loop.call_later(self._grace, self._left, user)

    def _left(self, user: UserId) -> None:
        self._leaving.pop(user, None)
        self._transitions.put_nowait(user)

    async def _write(self) -> None:
        """Brings each user's row in line with this instance's sockets (and graces): whatever
        came and went while a write was under way, the last state is the one written."""
        while True:
            user = await self._transitions.get()
            wanted = user in self._sockets or user in self._leaving
            if wanted == (user in self._arrived):
                continue
            try:
                if wanted:
                    online = await self._store.arrive(user, self.instance, clock.now())
                    self._arrived.add(user)
                    if online:
                        await self._announce(user, True, None)
                else:
                    now = clock.now()
                    offline = await self._store.depart(user, self.instance, now)
                    self._arrived.discard(user)
                    if offline:
                        await self._announce(user, False, now)
            except Exception as exc:
                log.warning("presence of user %d not written, retrying: %s", user, exc)
                self._retry.add(user)

    async def _renew(self) -> None:
        """Renews this instance's row, every third of the TTL; reaps the expired ones."""
        while True:
            now = clock.now()
            try:
                known = await self._store.claim(
                    self.instance, now, now + timedelta(seconds=self._ttl)
                )
                if not known:  # new, or reaped while away (our rows are gone): write them again
                    self._arrived.clear()
                    self._retry.update(self._sockets, self._leaving)
                retry, self._retry = self._retry, set()
                for user in retry:
                    self._transitions.put_nowait(user)
                for user, last_seen_at in await self._store.reap(clock.now()):
                    if user not in self._arrived:
                        await self._announce(user, False, last_seen_at)
            except Exception as exc:
                log.warning("presence could not be renewed: %s", exc)
            await asyncio.sleep(self._ttl / 3)

    # Signals

    async def _announce(self, user: UserId, online: bool, last_seen_at: datetime | None) -> None:
        # One signal of a few dozen bytes, under each of the user's chats' topics: the broker
        # carries it once a chat (one statement or pipeline), and an instance that hears it
        # under several topics tells each of its streams once (`_heard`).
        signal = {
            "type": "presence",
            "id": secrets.token_hex(8),
            "user": user,
            "online": online,
            "last_seen_at": None if last_seen_at is None else clock.rfc3339(last_seen_at),
        }
        topics = [chat_topic(chat) for chat in await self._user_chats(user)]
        self._hub.signals.offer(topics, orjson.dumps(signal).decode())

    def _heard(self, topic: str, signal: dict[str, Any]) -> None:
        user, key = signal.get("user"), str(signal.get("id"))
        if not isinstance(user, int) or not topic.startswith("c") or not topic[1:].isdigit():
            return
        chat = int(topic[1:])
        now = time.monotonic()
        if len(self._told) > 1000:
            self._told = {k: v for k, v in self._told.items() if now - v[0] < REMEMBER}
        told = self._told.setdefault(key, (now, set()))[1]
        frame = {
            "type": "presence",
            "user": user,
            "online": bool(signal.get("online")),
            "last_seen_at": signal.get("last_seen_at"),
        }
        text = orjson.dumps(frame).decode()
        for follower in self._hub.routed(topic):
            audience = follower.audience
            if audience.user != user and chat in audience.chats and id(follower) not in told:
                told.add(id(follower))  # a co-member of several chats hears it once
                follower.signal(text)
