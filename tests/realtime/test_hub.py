"""The hub and its sessions, in process, on a real SQLite store, with brokers that misbehave:
a stream never pays for a broker's fault, a closed stream leaves nothing behind, and the topics
the broker is asked for are exactly what the open streams need (after a resume across a removal
and a re-adding too)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Collection
from pathlib import Path

import pytest

from chatd.config import Settings
from chatd.core import clock, writes
from chatd.core.events import StreamEvent
from chatd.core.ports import NewUser, Send
from chatd.realtime.broker import Broker, MemoryBroker
from chatd.realtime.hub import Hub
from chatd.realtime.session import Session
from chatd.storage import migrate
from chatd.storage.database import Database, open_database
from chatd.storage.store import SqlChangeLog, SqlStore


class FlakyBroker(MemoryBroker):
    """Breaks its promise: `subscribe` raises the first `failures` times."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.calls: list[tuple[str, set[str]]] = []

    async def subscribe(self, topics: Collection[str]) -> None:
        self.calls.append(("subscribe", set(topics)))
        if self.failures:
            self.failures -= 1
            raise ConnectionError("broker down")
        await super().subscribe(topics)

    async def unsubscribe(self, topics: Collection[str]) -> None:
        self.calls.append(("unsubscribe", set(topics)))
        await super().unsubscribe(topics)

    @property
    def topics(self) -> set[str]:
        return set(self._topics)


class Inbox:
    def __init__(self) -> None:
        self.texts: list[str] = []
        self.arrived = asyncio.Event()

    def encode(self, event: StreamEvent) -> str:
        return f"{event.type} {event.pos}"

    async def send(self, text: str) -> None:
        self.texts.append(text)
        self.arrived.set()

    async def resync(self, pos: int) -> None:
        self.texts.append(f"resync {pos}")


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    url = f"sqlite:///{tmp_path / 'chatd.db'}"
    await asyncio.to_thread(migrate.upgrade, url)
    opened = open_database(Settings(database_url=url))
    try:
        yield opened
    finally:
        await opened.dispose()


async def _started(broker: Broker, database: Database) -> tuple[Hub, SqlStore]:
    """A hub reading the database's change log, and a store whose commits it hears."""
    hub = Hub(broker, SqlChangeLog(database), sweep_every=30)
    await hub.start()
    return hub, SqlStore(database, notifier=hub)


async def _users(store: SqlStore, *names: str) -> list[int]:
    return [
        await store.write(None, writes.do_add_user, NewUser(name, name, clock.now()))
        for name in names
    ]


async def _until(condition: Callable[[], bool], seconds: float = 3.0) -> None:
    for _tick in range(int(seconds * 100)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not within the time")


async def test_a_broker_that_fails_to_subscribe_costs_the_stream_nothing(
    database: Database,
) -> None:
    broker = FlakyBroker(failures=1)
    hub, store = await _started(broker, database)
    alice, bob = await _users(store, "alice", "bob")
    chat = await store.write(None, writes.do_create_chat, "room", [alice, bob], clock.now())
    inbox = Inbox()
    session = Session(store, hub, bob, False, (await store.change_positions())[0], inbox)
    running = asyncio.create_task(session.run())
    try:
        await _until(lambda: session.live)
        await store.write(None, writes.do_send, Send(chat, alice, "hello", clock.now()))
        await asyncio.wait_for(inbox.arrived.wait(), 2)  # delivered, the broker's fault aside
        assert inbox.texts[-1].startswith("message.created")
        assert not running.done()
        # The failed topics were not taken for subscribed: the next sync asks again.
        other = Session(store, hub, alice, False, 0, Inbox())
        second = asyncio.create_task(other.run())
        await _until(lambda: {"u2", f"c{chat}"} <= broker.topics)
        second.cancel()
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await asyncio.sleep(0.05)
    # Closed streams leave no follower and no topic behind.
    assert hub.followers == 0
    await _until(lambda: not broker.topics)
    await hub.close()


async def test_a_resume_across_a_removal_and_a_re_adding_stays_subscribed_to_the_chat(
    database: Database,
) -> None:
    broker = FlakyBroker(failures=0)
    hub, store = await _started(broker, database)
    alice, bob = await _users(store, "alice", "bob")
    chat = await store.write(None, writes.do_create_chat, "room", [alice, bob], clock.now())
    saved = (await store.change_positions())[0]
    await store.write(None, writes.do_update_chat, chat, None, [alice], clock.now(), alice)
    await store.write(None, writes.do_update_chat, chat, None, [alice, bob], clock.now(), alice)
    inbox = Inbox()
    session = Session(store, hub, bob, False, saved, inbox)
    running = asyncio.create_task(session.run())
    try:
        await _until(lambda: session.live)
        assert [t.split()[0] for t in inbox.texts] == ["member.removed", "member.added"]
        # The chat's topic is wanted from the broker: other instances' messages are hinted.
        await _until(lambda: f"c{chat}" in broker.topics)
        assert f"c{chat}" in broker.topics
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    await hub.close()


class GatedInbox(Inbox):
    """Holds its second send until the gate opens: a client that stops reading mid-batch."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.sends = 0

    async def send(self, text: str) -> None:
        self.sends += 1
        if self.sends == 2:
            await self.gate.wait()
        await super().send(text)


async def test_a_stream_that_overflows_mid_batch_skips_nothing(database: Database) -> None:
    hub, store = await _started(FlakyBroker(failures=0), database)
    alice, bob = await _users(store, "alice", "bob")
    chat = await store.write(None, writes.do_create_chat, "room", [alice, bob], clock.now())
    inbox = GatedInbox()
    session = Session(store, hub, bob, False, (await store.change_positions())[0], inbox)
    running = asyncio.create_task(session.run())
    try:
        await _until(lambda: session.live)
        # Three in one commit, so one read of the hub queues them together: the second blocks.
        await asyncio.gather(
            *(
                store.write(None, writes.do_send, Send(chat, alice, f"first {i}", clock.now()))
                for i in range(3)
            )
        )
        await _until(lambda: inbox.sends == 2)
        for i in range(300):  # more than a live stream keeps for a slow client
            await store.write(None, writes.do_send, Send(chat, alice, f"then {i}", clock.now()))
        await _until(lambda: not session.live)
        inbox.gate.set()
        await _until(lambda: len(inbox.texts) == 303, seconds=10)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    positions = [int(text.split()[1]) for text in inbox.texts]
    assert positions == sorted(set(positions))
    assert positions == list(range(positions[0], positions[0] + 303))
    await hub.close()
