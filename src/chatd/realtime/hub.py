"""The hub: this process's streams, and the one reader of the change log they share.

One task per instance reads the log's new changes, whoever they are for, in one query, when
woken: by a broker hint of a topic a local stream follows, by a write of this instance, by the
broker's reconnection (hints may have been lost meanwhile), or by the sweep every
CHATD_STREAM_SWEEP_SECONDS (a lost hint only delays). It routes each change in memory, in log
order, to the streams that hear of it (by the chat's topic, the user's, or every chat's for
moderators): a message into a chat costs one read per instance however many members are
connected, and idle sockets cost no query beyond the sweep's one.

A stream that starts, or falls too far behind, reads its own changes from the log until it
has caught up with the hub; the hub keeps its last RECENT changes, so that the seam between the
stream's reads and the hub's is closed in memory, in one step without an await (`handover`).

Broker topics follow the streams: the hub asks the broker for a topic while a local stream
needs it, and lets it go when none does. Which topics are wanted is decided here alone, and
the broker is brought in line with it one step at a time (`_sync_topics`), so a topic dropped
and taken again in quick succession ends up subscribed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Iterable
from typing import Protocol

from chatd.core import events, stream
from chatd.core.events import ChatState, LogEntry, LogPage
from chatd.core.ports import ChangeLog
from chatd.realtime.broker import ALL, Broker
from chatd.realtime.publisher import Publisher

log = logging.getLogger("chatd.realtime")

PAGE = 500  # changes a hub read takes at most
RECENT = 2000  # changes kept in memory for streams catching up
RETRY_FIRST, RETRY_MAX = 0.1, 2.0  # seconds between reads of a log that cannot be read


class Follower(Protocol):
    """A stream, as the hub sees it."""

    audience: stream.Audience

    def offer(self, entry: LogEntry, state: ChatState | None, page: PageContext) -> None:
        """Takes one change of the log, in log order; ignores what is not for it."""
        ...


class PageContext:
    """What offering one run of changes needs to know about the run as a whole."""

    __slots__ = ("frames", "leaves", "personal")

    def __init__(self, entries: Iterable[LogEntry]) -> None:
        # Where a user leaves a chat within this run: the run's messages in that chat were read
        # after it (their text may be an edit made after), so they are not shown to that user,
        # who loses the chat at that position anyway.
        self.leaves: dict[tuple[int, int | None], int] = {
            (e.user, e.chat): e.pos
            for e in entries
            if e.user is not None and e.type in events.LEAVES
        }
        self.frames: dict[int, str] = {}  # the text of a frame every recipient gets alike
        # Per message change: the users it shows otherwise than to a bystander (mentioned, or
        # among those who reacted), found once for the run rather than once per recipient.
        self.personal: dict[int, frozenset[int]] = {}

    def shown_differently(self, entry: LogEntry, user: int) -> bool:
        """Whether the message change shows `user` otherwise than the others: such a
        recipient gets a frame of their own, everyone else one shared frame."""
        message = entry.message
        if message is None or not (message.mentions or message.reactions):
            return False  # the common case: nothing per recipient, nothing to remember
        personal = self.personal.get(entry.pos)
        if personal is None:
            personal = frozenset(message.mentions).union(
                *(reaction.users for reaction in message.reactions)
            )
            self.personal[entry.pos] = personal
        return user in personal

    def left_later(self, user: int, entry: LogEntry) -> bool:
        leaves = self.leaves.get((user, entry.chat))
        return leaves is not None and entry.pos < leaves


class Hub:
    def __init__(self, broker: Broker, store: ChangeLog, sweep_every: float) -> None:
        self.broker = broker
        self._store = store
        self._sweep_every = sweep_every
        self.position = 0  # every change up to here has been offered to the live streams
        self._followers: dict[Follower, set[str]] = {}  # each stream's routed topics
        self._routes: dict[str, set[Follower]] = {}
        self._live = 0  # followers the hub offers changes to (the others are catching up)
        self._recent: deque[tuple[LogEntry, ChatState | None]] = deque()
        self._recent_from = 0  # every change after this position is in _recent
        self._wake = asyncio.Event()
        self.publisher = Publisher(broker)
        self._subscribed: set[str] = set()  # what the broker was told to hear
        self._unsynced: set[str] = set()  # topics whose routing changed since
        self._syncing = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self.reads = 0  # the hub's reads of the log (one per wake, shared by all its streams)

    async def start(self) -> None:
        self.position, _pruned = await self._store.change_positions()
        self._recent_from = self.position
        await self.broker.start(self._heard, self._wake.set)
        self.publisher.start()
        self._tasks = [asyncio.create_task(self._follow_log()), asyncio.create_task(self._sweep())]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.publisher.close()
        await self.broker.close()

    @property
    def followers(self) -> int:
        return len(self._followers)

    # After each commit (the store's Notifier)

    def publish(self, topics: Iterable[str], pos: int) -> None:
        """Tells this instance's streams and, through the broker, the other instances', that
        `pos` was logged under `topics`. Never waits for the broker."""
        self.publisher.offer(topics, pos)
        if pos > self.position:
            self._wake.set()

    def _heard(self, _topic: str, pos: int) -> None:
        if pos > self.position:
            self._wake.set()

    # Streams

    async def follow(self, follower: Follower) -> None:
        """Routes the follower's topics (again: its audience may have changed). Returns once
        the broker hears them, or sooner while the broker is down or slow."""
        self.reroute(follower)
        await self._sync_topics()

    def reroute(self, follower: Follower) -> None:
        """Routes the follower under its audience's topics now; the broker follows later."""
        routed = self._followers.setdefault(follower, set())
        wanted = follower.audience.topics
        for topic in wanted - routed:
            self._routes.setdefault(topic, set()).add(follower)
            self._unsynced.add(topic)
        for topic in routed - wanted:
            self._unroute(follower, topic)
        self._followers[follower] = wanted
        if self._unsynced and not self._syncing.locked():
            asyncio.get_running_loop().create_task(self._sync_topics())

    def leave(self, follower: Follower, live: bool) -> None:
        for topic in self._followers.pop(follower, ()):
            self._unroute(follower, topic)
        if live:
            self._live -= 1
        if self._unsynced and not self._syncing.locked():
            asyncio.get_running_loop().create_task(self._sync_topics())

    def _unroute(self, follower: Follower, topic: str) -> None:
        routed = self._routes.get(topic)
        if routed is not None:
            routed.discard(follower)
            if not routed:
                del self._routes[topic]
                self._unsynced.add(topic)

    def handover(self, after: int) -> list[tuple[LogEntry, ChatState | None]] | None:
        """For a follower that has read the log up to `after` and goes live: the changes after
        `after` that the hub has offered already, to be offered to it first; None when the hub
        no longer holds all of them (read the log again). From the return on, the hub offers
        the follower every later change (and again some up to `after`: it skips those)."""
        if after >= self.position:
            if self._live == 0:
                # Nobody is offered anything: the hub need not read what came before.
                self.position = self._recent_from = after
                self._recent.clear()
            self._live += 1
            return []
        if after < self._recent_from:
            return None
        self._live += 1
        return [(entry, state) for entry, state in self._recent if entry.pos > after]

    def fell_behind(self) -> None:
        """A follower stops being live (it reads the log until it catches up again)."""
        self._live -= 1

    async def _sync_topics(self) -> None:
        """Brings the broker in line with the routes, and reads the log after a subscription:
        hints published before it took effect were not heard."""
        async with self._syncing:
            while self._unsynced:
                changed, self._unsynced = self._unsynced, set()
                wanted = {t for t in changed if t in self._routes and t not in self._subscribed}
                unwanted = {t for t in changed if t not in self._routes and t in self._subscribed}
                try:
                    if unwanted:
                        await self.broker.unsubscribe(unwanted)
                        self._subscribed -= unwanted
                    if wanted:
                        await self.broker.subscribe(wanted)
                        self._subscribed |= wanted
                except Exception as exc:
                    # Brokers promise not to raise here; if one does, its topics count as not
                    # subscribed and are tried again at the next sync, the sweep delivers
                    # meanwhile, and no stream pays for it.
                    log.warning("the broker failed to (un)subscribe: %s", exc)
                    self._unsynced |= changed
                    return
                finally:
                    if wanted:
                        self._wake.set()

    # The log

    async def _follow_log(self) -> None:
        retry = RETRY_FIRST
        failing = False
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._read_log()
            except Exception as exc:
                if not failing:
                    log.warning("reading the change log failed, retrying: %s", exc)
                    failing = True
                await asyncio.sleep(retry)
                retry = min(retry * 2, RETRY_MAX)
                self._wake.set()
                continue
            if failing:
                log.warning("reading the change log works again")
                failing, retry = False, RETRY_FIRST

    async def _read_log(self) -> None:
        while self._followers:
            page = await self._store.read_log(self.position, PAGE)
            self.reads += 1
            states: dict[int, ChatState] = {}
            needed = stream.states_needed(page.entries)
            if needed:
                states = await self._store.chat_states(needed)
            self._offer(page, states)
            if not page.more:
                return

    def _offer(self, page: LogPage, states: dict[int, ChatState]) -> None:
        context = PageContext(page.entries)
        for entry in page.entries:
            if entry.pos <= self.position:
                continue  # a follower's handover moved the hub past it meanwhile
            state = None if entry.chat is None else states.get(entry.chat)
            if len(self._recent) == RECENT:
                self._recent_from = self._recent.popleft()[0].pos
            self._recent.append((entry, state))
            self.position = entry.pos
            topic = events.topic_of(entry.chat, entry.user)
            followers = list(self._routes.get(topic, ()))
            if entry.user is None:
                followers += self._routes.get(ALL, ())
            for follower in followers:
                try:
                    follower.offer(entry, state, context)
                except Exception:  # a bug in one stream must not cost the others this change
                    log.exception("a stream failed to take change %d", entry.pos)
        if not page.more:
            self.position = max(self.position, page.last_pos)

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_every)
            if self._followers:
                self._wake.set()
